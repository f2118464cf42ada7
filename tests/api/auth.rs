//! The `auth` component: `POST /token` and the JWKS document, and the
//! token checks every protected route applies.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use serde_json::json;
use spin_users_component_tests::{OTHER_SIGNING_KEY, TEST_SIGNING_KEY, TestApp};
use spin_users_domain::{DEFAULT_HASH_PARAMS, KeyRing, LoginMethod};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test(flavor = "multi_thread")]
async fn token_returns_a_bearer_token_for_the_form_grant() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;

    let resp = app.login("ADA@example.com", "correct horse").await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    let body = resp.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(
        body["access_token"].as_str().map(|t| t.split('.').count()),
        Some(3)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn token_accepts_the_same_fields_as_json() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;

    let resp = app
        .post_json("/token", &json!({"grant_type": "password", "username": "ada@example.com", "password": "correct horse"}))
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.json()["access_token"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_email_and_wrong_password_are_indistinguishable() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;

    let wrong_password = app.login("ada@example.com", "wrong horse").await;
    let unknown_email = app.login("nobody@example.com", "correct horse").await;
    let malformed_email = app.login("not-an-email", "correct horse").await;

    for resp in [&wrong_password, &unknown_email, &malformed_email] {
        assert_eq!(resp.status, 400);
        assert_eq!(resp.json()["error"], "invalid_grant");
    }
    assert_eq!(wrong_password.body, unknown_email.body, "same bytes");
    assert_eq!(wrong_password.body, malformed_email.body, "same bytes");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_errors_follow_rfc_6749() {
    let app = TestApp::spin_users().start().await;
    let form = "application/x-www-form-urlencoded";
    let cases = [
        (
            form,
            "grant_type=client_credentials",
            "unsupported_grant_type",
        ),
        (form, "username=a%40b.co&password=x", "invalid_request"),
        (form, "grant_type=password&password=x", "invalid_request"),
        (
            form,
            "grant_type=password&username=a%40b.co",
            "invalid_request",
        ),
        (
            form,
            "grant_type=password&grant_type=password&username=a&password=b",
            "invalid_request",
        ),
        (
            "text/plain",
            "grant_type=password&username=a&password=b",
            "invalid_request",
        ),
        ("application/json", "{not json", "invalid_request"),
    ];
    for (content_type, body, error) in cases {
        let resp = app
            .request(
                Method::POST,
                "/token",
                &[("content-type", content_type)],
                body,
            )
            .await;

        assert_eq!(resp.status, 400, "{body}");
        assert_eq!(resp.json()["error"], error, "{body}");
        assert!(resp.json()["error_description"].is_string());
    }
    let get = app.get("/token").await;
    get.assert_problem(405, "method-not-allowed");
    assert_eq!(get.header("allow"), Some("POST"));
}

#[tokio::test(flavor = "multi_thread")]
async fn login_works_with_the_production_argon2_parameters() {
    let app = TestApp::spin_users_owasp().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;

    let token = app.access_token("ada@example.com", "correct horse").await;

    assert_eq!(app.get_with_token("/users/me", &token).await.status, 200);
    // spin.toml's defaults are the domain's, so `spin up` hashes as documented.
    let stored = app.query_db("SELECT password_hash FROM users").await;
    let hash = stored[0][0].clone().unwrap_or_default();
    let p = DEFAULT_HASH_PARAMS;
    let expected = format!(
        "$argon2id$v=19$m={},t={},p={}$",
        p.memory_kib, p.iterations, p.parallelism
    );
    assert!(hash.starts_with(&expected), "{hash} uses {expected}");
}

#[tokio::test(flavor = "multi_thread")]
async fn jwks_publishes_the_key_that_signs_tokens() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let token = app.access_token("ada@example.com", "correct horse").await;

    let resp = app.get("/.well-known/jwks.json").await;

    assert_eq!(resp.status, 200);
    let keys = resp.json()["keys"].clone();
    assert_eq!(keys.as_array().map(Vec::len), Some(1));
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert!(keys[0].get("d").is_none(), "no private part");
    let header: serde_json::Value =
        serde_json::from_slice(&base64_url_decode(token.split('.').next().expect("header")))
            .expect("header JSON");
    assert_eq!(header["kid"], keys[0]["kid"]);
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64url") as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_survive_a_key_rotation_and_jwks_lists_both_keys() {
    let before = TestApp::spin_users().start().await;
    before
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let old_token = before
        .access_token("ada@example.com", "correct horse")
        .await;

    let after = TestApp::spin_users()
        .sharing_data_with(&before)
        .env("SPIN_VARIABLE_SIGNING_KEY", OTHER_SIGNING_KEY)
        .env("SPIN_VARIABLE_PREVIOUS_SIGNING_KEY", TEST_SIGNING_KEY)
        .start()
        .await;
    let without_previous = TestApp::spin_users()
        .sharing_data_with(&before)
        .env("SPIN_VARIABLE_SIGNING_KEY", OTHER_SIGNING_KEY)
        .start()
        .await;

    assert_eq!(
        after.get_with_token("/users/me", &old_token).await.status,
        200
    );
    assert_eq!(
        after.get("/.well-known/jwks.json").await.json()["keys"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        without_previous
            .get_with_token("/users/me", &old_token)
            .await
            .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_expired_and_foreign_tokens_are_rejected() {
    let app = TestApp::spin_users().start().await;
    let ada = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let id = ada["id"].as_str().expect("id");
    let roles = vec!["user".to_string()];
    let mut random = spin_users_domain::SystemRandom;
    let sign = |issuer: &str, audience: &str, key: &str, at: u64| {
        KeyRing::new(issuer, audience, key, None)
            .expect("key")
            .issue(
                id,
                &roles,
                None,
                LoginMethod::Password,
                at,
                &mut random.clone(),
            )
            .expect("issue")
            .token
    };
    let good = sign("spin-users", "spin-users", TEST_SIGNING_KEY, now());
    assert_eq!(
        app.get_with_token("/users/me", &good).await.status,
        200,
        "control: a proper token works"
    );

    let mut tampered = good.clone();
    tampered.insert_str(tampered.rfind('.').expect("dot") + 1, "AA");
    // The verified token's signature on an edited payload (a later expiry,
    // the admin role), after the original was cached.
    let parts: Vec<&str> = good.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("payload")).expect("json");
    claims["exp"] = json!(now() + 86_400);
    claims["roles"] = json!(["admin"]);
    let edited = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let cases = [
        (
            "expired",
            sign("spin-users", "spin-users", TEST_SIGNING_KEY, now() - 3_600),
        ),
        (
            "not yet valid",
            sign("spin-users", "spin-users", TEST_SIGNING_KEY, now() + 3_600),
        ),
        (
            "wrong issuer",
            sign("someone-else", "spin-users", TEST_SIGNING_KEY, now()),
        ),
        (
            "wrong audience",
            sign("spin-users", "another-api", TEST_SIGNING_KEY, now()),
        ),
        (
            "unknown key",
            sign("spin-users", "spin-users", OTHER_SIGNING_KEY, now()),
        ),
        ("tampered signature", tampered),
        ("edited payload under the original signature", edited),
    ];
    let _ = &mut random;
    for (what, token) in cases {
        let resp = app.get_with_token("/users/me", &token).await;

        assert_eq!(resp.status, 401, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_upgrades_a_hash_made_with_older_parameters() {
    let before = TestApp::spin_users().start().await;
    before
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let old = before.query_db("SELECT password_hash FROM users").await;
    let after = TestApp::spin_users()
        .sharing_data_with(&before)
        .env("SPIN_VARIABLE_ARGON2_MEMORY_KIB", "512")
        .start()
        .await;

    assert_eq!(
        after.login("ada@example.com", "correct horse").await.status,
        200
    );

    let new = after.query_db("SELECT password_hash FROM users").await;
    let hash = |rows: &Vec<Vec<Option<String>>>| rows[0][0].clone().expect("hash");
    assert!(hash(&old).contains("m=256,"), "{}", hash(&old));
    assert!(hash(&new).contains("m=512,"), "{}", hash(&new));
    assert_eq!(
        after.login("ada@example.com", "correct horse").await.status,
        200,
        "the new hash verifies"
    );
}
