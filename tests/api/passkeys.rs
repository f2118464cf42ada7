//! Passkeys (W3C WebAuthn Level 3): registration behind a fresh password
//! (and the second factor while one is on), the list and removal, sign-in
//! through the passkey grant with `amr` by the authenticator's kind, the
//! single use and ceremony binding of challenges (raced), and the refusal
//! of unknown credentials, foreign origins, replays and counters that go
//! back. The authenticator is `spin_users_domain::fakes::
//! SoftAuthenticator` (Ed25519, attestation `none`); the browser suite
//! (`tests/tools/passkeys.py`) does the same with Chromium's.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use serde_json::{Value, json};
use spin_users_component_tests::totp::{code, settle};
use spin_users_component_tests::{TestApp, TestResponse, concurrently, urlencode};
use spin_users_domain::fakes::SoftAuthenticator;
use spin_users_domain::{AssertionResponse, RegistrationResponse};

const PASSWORD: &str = "correct horse";
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const PASSKEY_GRANT: &str = "urn:spin-users:grant-type:passkey";
/// What `spin.toml` defaults to: the relying party of `make up`.
const RP_ID: &str = "localhost";
const ORIGIN: &str = "http://localhost:3000";

pub(crate) fn authenticator(seed: u64) -> SoftAuthenticator {
    SoftAuthenticator::new(seed, RP_ID, ORIGIN)
}

fn claims(access: &str) -> Value {
    let payload = access.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("json")
}

/// A `PublicKeyCredential`'s `toJSON()` with `response`.
fn credential_json(id: &str, response: Value) -> Value {
    json!({
        "id": id,
        "rawId": id,
        "type": "public-key",
        "response": response,
        "clientExtensionResults": {},
        "authenticatorAttachment": "platform",
    })
}

fn registration_json(response: &RegistrationResponse) -> Value {
    let attestation = json!({
        "clientDataJSON": response.client_data_json,
        "attestationObject": response.attestation_object,
        "transports": ["internal"],
    });
    credential_json(&response.id, attestation)
}

fn assertion_json(response: &AssertionResponse) -> Value {
    let assertion = json!({
        "clientDataJSON": response.client_data_json,
        "authenticatorData": response.authenticator_data,
        "signature": response.signature,
        "userHandle": response.user_handle,
    });
    credential_json(&response.id, assertion)
}

/// An account and its access token.
async fn account(app: &TestApp, email: &str) -> (String, String) {
    let user = app.register("Ada", email, PASSWORD).await;
    let token = app.access_token(email, PASSWORD).await;
    (user["id"].as_str().expect("id").to_owned(), token)
}

async fn creation_options(app: &TestApp, token: &str, proof: Value) -> TestResponse {
    app.send_json(Method::POST, "/users/me/passkeys/options", token, &proof)
        .await
}

/// The creation options of a registration proven by the password.
async fn options_for(app: &TestApp, token: &str) -> Value {
    let resp = creation_options(app, token, json!({"current_password": PASSWORD})).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    resp.json()
}

async fn finish_registration(
    app: &TestApp,
    token: &str,
    key: &mut SoftAuthenticator,
    options: &Value,
) -> TestResponse {
    let challenge = options["challenge"].as_str().expect("challenge");
    let handle = options["user"]["id"].as_str().expect("user handle");
    let credential = registration_json(&key.create(challenge, handle));
    let body = json!({"name": "Laptop", "credential": credential});
    app.send_json(Method::POST, "/users/me/passkeys", token, &body)
        .await
}

/// Registers `key` for the account of `token`: the passkey's view.
pub(crate) async fn register(app: &TestApp, token: &str, key: &mut SoftAuthenticator) -> Value {
    let options = options_for(app, token).await;
    let resp = finish_registration(app, token, key, &options).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    resp.json()
}

async fn sign_in_challenge(app: &TestApp) -> String {
    let resp = app
        .request(Method::POST, "/passkeys/login/options", &[], "")
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    let options = resp.json();
    assert_eq!(options["rpId"], RP_ID);
    assert_eq!(options["userVerification"], "required");
    assert_eq!(options["allowCredentials"], json!([]));
    options["challenge"].as_str().expect("challenge").to_owned()
}

async fn grant(app: &TestApp, credential: &Value) -> TestResponse {
    let form = format!(
        "grant_type={}&credential={}",
        urlencode(PASSKEY_GRANT),
        urlencode(&credential.to_string())
    );
    app.request(Method::POST, "/token", &[FORM], form).await
}

/// A sign-in with `key`: a fresh challenge, its assertion, the grant.
async fn sign_in(app: &TestApp, key: &mut SoftAuthenticator) -> TestResponse {
    let challenge = sign_in_challenge(app).await;
    grant(app, &assertion_json(&key.get(&challenge))).await
}

fn assert_invalid_grant(resp: &TestResponse) {
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(resp.json()["error"], "invalid_grant", "{}", resp.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registered_passkey_signs_in_with_the_amr_of_its_kind() {
    let app = TestApp::spin_users().start().await;
    let (id, token) = account(&app, "ada@example.com").await;
    let options = options_for(&app, &token).await;
    assert_eq!(options["rp"], json!({"id": RP_ID, "name": "spin-users"}));
    assert_eq!(options["user"]["id"], URL_SAFE_NO_PAD.encode(&id));
    assert_eq!(options["user"]["name"], "ada@example.com");
    let challenge = URL_SAFE_NO_PAD
        .decode(options["challenge"].as_str().expect("challenge"))
        .expect("base64url");
    assert!(challenge.len() >= 16, "at least 128 bits");
    assert_eq!(
        options["pubKeyCredParams"],
        json!([{"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -7}])
    );
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(
        options["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    assert_eq!(options["attestation"], "none");
    assert_eq!(options["excludeCredentials"], json!([]));

    let mut key = authenticator(1);
    let registered = finish_registration(&app, &token, &mut key, &options).await;
    assert_eq!(registered.status, 201, "{}", registered.text());
    let view = registered.json();
    assert_eq!(view["id"], key.credential_id());
    assert_eq!(
        (&view["name"], &view["synced"]),
        (&json!("Laptop"), &json!(false))
    );
    assert_eq!(view["last_used_at"], Value::Null);

    let signed_in = sign_in(&app, &mut key).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());
    let tokens = signed_in.json();
    let access = tokens["access_token"].as_str().expect("access token");
    assert_eq!(claims(access)["amr"], json!(["hwk", "user"]));
    assert_eq!(claims(access)["sub"], id);
    let me = app.get_with_token("/users/me", access).await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["email"], "ada@example.com");
    // A refresh keeps how the session was proven.
    let refreshed = app
        .refresh(tokens["refresh_token"].as_str().expect("refresh token"))
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    let access = refreshed.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_eq!(claims(&access)["amr"], json!(["hwk", "user"]));

    let list = app.get_with_token("/users/me/passkeys", &token).await;
    assert_eq!(list.status, 200, "{}", list.text());
    let items = list.json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 1);
    assert!(items[0]["last_used_at"].is_string(), "{items:?}");
    assert!(!list.text().contains("public_key"), "never the key");

    // A synced passkey says so, and signs in as a software key.
    let mut synced = authenticator(2);
    synced.backup_eligible = true;
    let view = register(&app, &token, &mut synced).await;
    assert_eq!(view["synced"], true);
    let signed_in = sign_in(&app, &mut synced).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());
    let access = signed_in.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_eq!(claims(&access)["amr"], json!(["swk", "user"]));

    // The next options exclude both.
    let again = options_for(&app, &token).await;
    let mut excluded: Vec<String> = again["excludeCredentials"]
        .as_array()
        .expect("excluded")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect();
    excluded.sort();
    let mut both = vec![key.credential_id(), synced.credential_id()];
    both.sort();
    assert_eq!(excluded, both);
    let metrics = app.get("/metrics").await.text();
    for line in [
        "spin_users_passkey_registrations_total 2",
        "spin_users_passkey_sign_ins_total{result=\"success\"} 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}: {metrics}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn registering_needs_the_password_now_and_the_second_factor_while_one_is_on() {
    let app = TestApp::spin_users().start().await;
    let (_, token) = account(&app, "ada@example.com").await;
    let missing = creation_options(&app, &token, json!({})).await;
    assert_eq!(missing.status, 422, "{}", missing.text());
    assert_eq!(missing.json()["errors"][0]["field"], "current_password");
    let wrong = creation_options(&app, &token, json!({"current_password": "not it"})).await;
    assert_eq!(wrong.status, 422, "{}", wrong.text());
    assert_eq!(wrong.json()["errors"][0]["code"], "incorrect");
    let anonymous = app
        .request(
            Method::POST,
            "/users/me/passkeys/options",
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert_eq!(anonymous.status, 401);

    // With a TOTP factor on, the code is needed too.
    settle(3).await;
    let body = json!({"current_password": PASSWORD});
    let enrolment = app
        .send_json(Method::POST, "/users/me/mfa/totp", &token, &body)
        .await
        .json();
    let secret = enrolment["secret"].as_str().expect("secret");
    let body = json!({"code": code(secret, -1)});
    let confirmed = app
        .send_json(Method::POST, "/users/me/mfa/totp/confirm", &token, &body)
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());
    let without_code = creation_options(&app, &token, json!({"current_password": PASSWORD})).await;
    assert_eq!(without_code.status, 422, "{}", without_code.text());
    assert_eq!(without_code.json()["errors"][0]["field"], "code");
    let proof = json!({"current_password": PASSWORD, "code": code(secret, 0)});
    let options = creation_options(&app, &token, proof).await;
    assert_eq!(options.status, 200, "{}", options.text());
    let mut key = authenticator(3);
    let registered = finish_registration(&app, &token, &mut key, &options.json()).await;
    assert_eq!(registered.status, 201, "{}", registered.text());

    // A passkey is both factors: no mfa_required.
    let signed_in = sign_in(&app, &mut key).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());
    assert!(signed_in.json()["access_token"].is_string());
    // And the password alone still asks for the code.
    let password = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(password.json()["error"], "mfa_required");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_challenge_is_spent_once_and_only_by_its_own_ceremony() {
    let app = Arc::new(TestApp::spin_users().start().await);
    let (_, token) = account(&app, "ada@example.com").await;
    let mut key = authenticator(4);
    register(&app, &token, &mut key).await;

    // A replayed assertion.
    let challenge = sign_in_challenge(&app).await;
    let assertion = assertion_json(&key.get(&challenge));
    assert_eq!(grant(&app, &assertion).await.status, 200);
    assert_invalid_grant(&grant(&app, &assertion).await);

    // One assertion raced by eight sign-ins gives one session.
    let challenge = sign_in_challenge(&app).await;
    let assertion = Arc::new(assertion_json(&key.get(&challenge)));
    let statuses = concurrently(&app, 8, move |app, _| {
        let assertion = assertion.clone();
        async move { grant(&app, &assertion).await.status }
    })
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        7,
        "{statuses:?}"
    );

    // A registration challenge cannot finish a sign-in...
    let options = options_for(&app, &token).await;
    let challenge = options["challenge"].as_str().expect("challenge");
    assert_invalid_grant(&grant(&app, &assertion_json(&key.get(challenge))).await);
    // ...nor a sign-in challenge a registration.
    let challenge = sign_in_challenge(&app).await;
    let mut other = authenticator(5);
    let handle = options["user"]["id"].as_str().expect("handle");
    let credential = registration_json(&other.create(&challenge, handle));
    let body = json!({"credential": credential});
    let refused = app
        .send_json(Method::POST, "/users/me/passkeys", &token, &body)
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(
        refused.json()["type"],
        "urn:spin-users:problem:passkey-rejected"
    );

    // A challenge past its five minutes.
    let challenge = sign_in_challenge(&app).await;
    let assertion = assertion_json(&key.get(&challenge));
    app.query_db("UPDATE one_time_tokens SET expires_at = 1 WHERE purpose = 'passkey_login'")
        .await;
    assert_invalid_grant(&grant(&app, &assertion).await);

    // The same credential twice.
    let options = options_for(&app, &token).await;
    let twice = finish_registration(&app, &token, &mut key, &options).await;
    assert_eq!(twice.status, 409, "{}", twice.text());
    assert_eq!(
        twice.json()["type"],
        "urn:spin-users:problem:passkey-registered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn strangers_foreign_origins_and_cloned_authenticators_are_refused() {
    let app = TestApp::spin_users().start().await;
    let (id, token) = account(&app, "ada@example.com").await;
    let mut key = authenticator(6);
    register(&app, &token, &mut key).await;

    let mut stranger = authenticator(7);
    stranger.create("never-registered", &URL_SAFE_NO_PAD.encode(&id));
    assert_invalid_grant(&sign_in(&app, &mut stranger).await);

    key.origin = "https://evil.example.net".into();
    assert_invalid_grant(&sign_in(&app, &mut key).await);
    key.origin = ORIGIN.into();

    // A registration from a page on another origin.
    let options = options_for(&app, &token).await;
    let mut foreign = SoftAuthenticator::new(8, RP_ID, "http://localhost:4000");
    let refused = finish_registration(&app, &token, &mut foreign, &options).await;
    assert_eq!(refused.status, 400, "{}", refused.text());

    let malformed = app
        .request(
            Method::POST,
            "/token",
            &[FORM],
            format!("grant_type={}&credential=%7Bnot", urlencode(PASSKEY_GRANT)),
        )
        .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["error"], "invalid_request");

    // A clone still at an older count.
    assert_eq!(sign_in(&app, &mut key).await.status, 200);
    assert_eq!(sign_in(&app, &mut key).await.status, 200);
    key.counter -= 2;
    assert_invalid_grant(&sign_in(&app, &mut key).await);
    let audit = app
        .query_db("SELECT COUNT(*) FROM audit_log WHERE event = 'passkey_counter_regressed'")
        .await;
    assert_eq!(audit[0][0].as_deref(), Some("1"));
    let metrics = app.get("/metrics").await.text();
    let line = "spin_users_passkey_sign_ins_total{result=\"counter_regressed\"} 1";
    assert!(metrics.lines().any(|l| l == line), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_passkey_or_a_deleted_account_signs_nothing_in() {
    let app = TestApp::spin_users().start().await;
    let (_, token) = account(&app, "ada@example.com").await;
    let (_, bob) = account(&app, "bob@example.com").await;
    let mut key = authenticator(9);
    let passkey = register(&app, &token, &mut key).await;
    let path = format!("/users/me/passkeys/{}", passkey["id"].as_str().expect("id"));
    let proof = json!({"current_password": PASSWORD});

    let not_theirs = app.send_json(Method::DELETE, &path, &bob, &proof).await;
    assert_eq!(not_theirs.status, 404, "{}", not_theirs.text());
    let unproven = app
        .send_json(Method::DELETE, &path, &token, &json!({}))
        .await;
    assert_eq!(unproven.status, 422, "{}", unproven.text());
    let removed = app.send_json(Method::DELETE, &path, &token, &proof).await;
    assert_eq!(removed.status, 204, "{}", removed.text());
    let again = app.send_json(Method::DELETE, &path, &token, &proof).await;
    assert_eq!(again.status, 404);
    assert_invalid_grant(&sign_in(&app, &mut key).await);

    let mut other = authenticator(10);
    register(&app, &token, &mut other).await;
    let deleted = app
        .send_json(Method::DELETE, "/users/me", &token, &proof)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    assert_invalid_grant(&sign_in(&app, &mut other).await);
    let left = app.query_db("SELECT COUNT(*) FROM passkeys").await;
    assert_eq!(left[0][0].as_deref(), Some("0"), "deleted with the account");
}
