//! The second factor (RFC 6238 TOTP with recovery codes): enrolment and
//! its confirmation, the `mfa_required` answer and the second-factor
//! grant, the single use of codes, mfa tokens and recovery codes (raced),
//! the lock, `amr` (RFC 8176) in tokens, introspection and userinfo,
//! step-up, and turning the factor off, by its owner or an admin. Codes are
//! computed with the tests' own RFC 6238 implementation
//! (`spin_users_component_tests::totp`), checked here against RFC 6238
//! appendix B.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use serde_json::{Value, json};
use spin_users_component_tests::totp::{self, code};
use spin_users_component_tests::{TestApp, TestResponse, concurrently, urlencode};

const PASSWORD: &str = "correct horse";
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const MFA_GRANT: &str = "urn:spin-users:grant-type:mfa";
const INTROSPECTION_TOKEN: &str = "resource-server-secret-0123456789";

#[test]
fn the_tests_totp_matches_rfc_6238_appendix_b() {
    // Appendix B's SHA-1 seed is the ASCII "12345678901234567890"; its
    // table gives 8 digits.
    let seed = b"12345678901234567890";
    for (time, expected) in [
        (59u64, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(totp::hotp(seed, time / 30, 8), expected, "T = {time}");
    }
    // The same seed in base32, as an otpauth URI carries it.
    assert_eq!(
        totp::base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        seed.to_vec()
    );
    assert_eq!(
        totp::code_at("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59),
        "287082"
    );
}

fn claims(access: &str) -> Value {
    let payload = access.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("json")
}

/// A wrong code for now: the right one with its last digit changed.
fn wrong(secret: &str) -> String {
    let mut digits = code(secret, 0).into_bytes();
    digits[5] = if digits[5] == b'9' {
        b'0'
    } else {
        digits[5] + 1
    };
    String::from_utf8(digits).expect("digits")
}

/// An account with a confirmed second factor.
struct Enrolled {
    id: String,
    email: String,
    /// An access token from before the factor was on.
    token: String,
    secret: String,
    recovery_codes: Vec<String>,
}

async fn start() -> TestApp {
    TestApp::spin_users()
        .env("SPIN_VARIABLE_INTROSPECTION_TOKEN", INTROSPECTION_TOKEN)
        .start()
        .await
}

async fn begin(app: &TestApp, token: &str) -> Value {
    let body = json!({"current_password": PASSWORD});
    let resp = app
        .send_json(Method::POST, "/users/me/mfa/totp", token, &body)
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    resp.json()
}

async fn confirm(app: &TestApp, token: &str, code: &str) -> TestResponse {
    let body = json!({"code": code});
    app.send_json(Method::POST, "/users/me/mfa/totp/confirm", token, &body)
        .await
}

/// Registers `email` and turns a second factor on, confirmed with the code
/// of the previous step (so the steps of now and the next are left for
/// the test).
async fn enrolled(app: &TestApp, email: &str) -> Enrolled {
    let user = app.register("Ada", email, PASSWORD).await;
    let token = app.access_token(email, PASSWORD).await;
    totp::settle(3).await;
    let secret = begin(app, &token).await["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let confirmed = confirm(app, &token, &code(&secret, -1)).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());
    let recovery_codes = confirmed.json()["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect();
    Enrolled {
        id: user["id"].as_str().expect("id").to_owned(),
        email: email.to_owned(),
        token,
        secret,
        recovery_codes,
    }
}

/// The password half of a login that must answer `mfa_required`: its
/// `mfa_token`.
async fn mfa_token(app: &TestApp, email: &str) -> String {
    let resp = app.login(email, PASSWORD).await;
    assert_eq!(resp.status, 403, "{}", resp.text());
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    let body = resp.json();
    assert_eq!(body["error"], "mfa_required");
    assert!(body["error_description"].is_string());
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    body["mfa_token"].as_str().expect("mfa_token").to_owned()
}

/// `POST /token` with the second-factor grant: `field` is `otp` or
/// `recovery_code`.
async fn grant(app: &TestApp, mfa_token: &str, field: &str, value: &str) -> TestResponse {
    let form = format!(
        "grant_type={}&mfa_token={}&{field}={}",
        urlencode(MFA_GRANT),
        urlencode(mfa_token),
        urlencode(value)
    );
    app.request(Method::POST, "/token", &[FORM], form).await
}

fn assert_invalid_grant(resp: &TestResponse) {
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(resp.json()["error"], "invalid_grant", "{}", resp.text());
}

async fn mfa_enabled(app: &TestApp, token: &str) -> Value {
    let me = app.get_with_token("/users/me", token).await;
    assert_eq!(me.status, 200, "{}", me.text());
    me.json()["mfa_enabled"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn enrolment_shows_a_secret_uri_and_qr_code_and_changes_nothing_until_confirmed() {
    let app = start().await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    assert_eq!(mfa_enabled(&app, &token).await, false);

    let wrong_password = app
        .send_json(
            Method::POST,
            "/users/me/mfa/totp",
            &token,
            &json!({"current_password": "not the password"}),
        )
        .await;
    let problem = wrong_password.assert_problem(422, "validation-failed");
    assert_eq!(problem["errors"][0]["field"], "current_password");
    let anonymous = app
        .post_json("/users/me/mfa/totp", &json!({"current_password": PASSWORD}))
        .await;
    anonymous.assert_problem(401, "unauthorized");

    let enrolment = begin(&app, &token).await;
    let secret = enrolment["secret"].as_str().expect("secret");
    assert!(
        totp::base32_decode(secret).len() >= 20,
        "at least 160 bits: {secret}"
    );
    assert_eq!(
        enrolment["otpauth_uri"],
        format!(
            "otpauth://totp/spin-users:ada@example.com?secret={secret}&issuer=spin-users&algorithm=SHA1&digits=6&period=30"
        )
    );
    let svg = enrolment["qr_svg"].as_str().expect("qr_svg");
    assert!(svg.contains("<svg") && svg.ends_with("</svg>"), "{svg:.80}");

    // Nothing is on yet: a password alone still logs in.
    assert_eq!(mfa_enabled(&app, &token).await, false);
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status, 200);
    // Enrolling again replaces the pending secret: the first one no
    // longer confirms.
    totp::settle(3).await;
    let second = begin(&app, &token).await;
    let second_secret = second["secret"].as_str().expect("secret");
    assert_ne!(second_secret, secret);
    let stale = confirm(&app, &token, &code(secret, 0)).await;
    stale.assert_problem(422, "validation-failed");
    let confirmed = confirm(&app, &token, &code(second_secret, 0)).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());
    assert_eq!(confirmed.header("cache-control"), Some("no-store"));
    let codes = confirmed.json()["recovery_codes"].clone();
    let codes = codes.as_array().expect("codes");
    assert!(codes.len() >= 8, "{codes:?}");
    assert_eq!(mfa_enabled(&app, &token).await, true);

    // Once on, neither a second confirmation nor a new enrolment is taken.
    confirm(&app, &token, &code(second_secret, 1))
        .await
        .assert_problem(409, "second-factor-enabled");
    app.send_json(
        Method::POST,
        "/users/me/mfa/totp",
        &token,
        &json!({"current_password": PASSWORD}),
    )
    .await
    .assert_problem(409, "second-factor-enabled");

    // The database holds neither the secret nor a recovery code in clear.
    let rows = app
        .query_db("SELECT totp_secret, recovery_codes FROM users")
        .await;
    let stored = format!("{rows:?}");
    assert!(!stored.contains(second_secret), "{stored}");
    for code in codes {
        let code = code.as_str().expect("code");
        assert!(!stored.contains(code), "{stored}");
        assert!(!stored.contains(&code.replace('-', "")), "{stored}");
    }
    let sealed = rows[0][0].as_deref().expect("a sealed secret");
    assert!(sealed.starts_with("v1."), "{sealed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_login_then_a_code_gives_tokens_whose_amr_says_so() {
    let app = start().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let mfa = mfa_token(&app, &ada.email).await;

    let missing = app
        .request(
            Method::POST,
            "/token",
            &[FORM],
            format!(
                "grant_type={}&mfa_token={}",
                urlencode(MFA_GRANT),
                urlencode(&mfa)
            ),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["error"], "invalid_request");

    let granted = grant(&app, &mfa, "otp", &code(&ada.secret, 0)).await;
    assert_eq!(granted.status, 200, "{}", granted.text());
    let body = granted.json();
    let access = body["access_token"].as_str().expect("access");
    let refresh = body["refresh_token"].as_str().expect("refresh");
    assert_eq!(claims(access)["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims(access)["sub"], ada.id.as_str());

    // A refresh keeps the amr of the login that began the session.
    let refreshed = app.refresh(refresh).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    let refreshed = refreshed.json();
    let next_access = refreshed["access_token"].as_str().expect("access");
    assert_eq!(claims(next_access)["amr"], json!(["pwd", "otp", "mfa"]));

    // Introspection and userinfo report it, for both token kinds.
    for token in [next_access, refreshed["refresh_token"].as_str().expect("r")] {
        let resp = app
            .request(
                Method::POST,
                "/introspect",
                &[
                    FORM,
                    ("authorization", &format!("Bearer {INTROSPECTION_TOKEN}")),
                ],
                format!("token={}", urlencode(token)),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(
            resp.json()["amr"],
            json!(["pwd", "otp", "mfa"]),
            "{}",
            resp.text()
        );
    }
    let info = app.get_with_token("/userinfo", next_access).await;
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(info.json()["amr"], json!(["pwd", "otp", "mfa"]));

    // A password-only login says only that.
    app.register("Bob", "bob@example.com", PASSWORD).await;
    let bob = app.access_token("bob@example.com", PASSWORD).await;
    assert_eq!(claims(&bob)["amr"], json!(["pwd"]));
    let info = app.get_with_token("/userinfo", &bob).await;
    assert_eq!(info.json()["amr"], json!(["pwd"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mfa_token_works_once_for_its_own_account_and_only_while_fresh() {
    let app = start().await;
    let ada = enrolled(&app, "ada@example.com").await;

    // A mistyped code leaves the token usable; the right one spends it.
    let mfa = mfa_token(&app, &ada.email).await;
    assert_invalid_grant(&grant(&app, &mfa, "otp", &wrong(&ada.secret)).await);
    let first = grant(&app, &mfa, "otp", &code(&ada.secret, 0)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_invalid_grant(&grant(&app, &mfa, "otp", &code(&ada.secret, 1)).await);

    // Tampered or made up: the same invalid_grant.
    let mfa = mfa_token(&app, &ada.email).await;
    let mut tampered = mfa.clone().into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    for token in [tampered.as_str(), "", "not-a-token", "' OR 1=1 --"] {
        assert_invalid_grant(&grant(&app, token, "otp", &code(&ada.secret, 1)).await);
    }

    // Expired (five minutes at most): moved back in time in the store.
    app.query_db("UPDATE one_time_tokens SET expires_at = 1 WHERE purpose = 'mfa_login'")
        .await;
    assert_invalid_grant(&grant(&app, &mfa, "otp", &code(&ada.secret, 1)).await);
    let rows = app
        .query_db("SELECT COUNT(*) FROM one_time_tokens WHERE purpose = 'mfa_login'")
        .await;
    assert!(rows[0][0].is_some(), "stored as rows of one-time tokens");

    // A password change since the password half kills its token.
    let mfa = mfa_token(&app, &ada.email).await;
    let changed = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &ada.token,
            &json!({"name": "Ada L."}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_invalid_grant(&grant(&app, &mfa, "otp", &code(&ada.secret, 1)).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_is_accepted_once_even_when_two_logins_race_with_it() {
    let app = Arc::new(start().await);
    let ada = enrolled(&app, "ada@example.com").await;
    let now_code = code(&ada.secret, 0);

    let first = grant(&app, &mfa_token(&app, &ada.email).await, "otp", &now_code).await;
    assert_eq!(first.status, 200, "{}", first.text());
    // The same code again, and the previous step's, are spent.
    for old in [now_code.clone(), code(&ada.secret, -1)] {
        let mfa = mfa_token(&app, &ada.email).await;
        assert_invalid_grant(&grant(&app, &mfa, "otp", &old).await);
    }

    // Eight logins with one fresh code at once: exactly one gets tokens.
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(mfa_token(&app, &ada.email).await);
    }
    let tokens = Arc::new(tokens);
    let next = code(&ada.secret, 1);
    let statuses = concurrently(&app, 8, |app, i| {
        let tokens = tokens.clone();
        let next = next.clone();
        async move { grant(&app, &tokens[i], "otp", &next).await.status }
    })
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    // The losers count as wrong codes, and may reach the lock.
    assert!(
        statuses.iter().all(|s| [200, 400, 429].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_mfa_token_raced_gives_one_session() {
    let app = Arc::new(start().await);
    let ada = enrolled(&app, "ada@example.com").await;
    let mfa = Arc::new(mfa_token(&app, &ada.email).await);
    // A code and the recovery codes are different proofs: only the token's
    // single use keeps them from making several sessions.
    let proofs: Arc<Vec<(&str, String)>> = Arc::new(vec![
        ("otp", code(&ada.secret, 0)),
        ("recovery_code", ada.recovery_codes[0].clone()),
        ("recovery_code", ada.recovery_codes[1].clone()),
        ("recovery_code", ada.recovery_codes[2].clone()),
    ]);
    let statuses = concurrently(&app, proofs.len(), |app, i| {
        let mfa = mfa.clone();
        let proofs = proofs.clone();
        async move {
            let (field, value) = &proofs[i];
            grant(&app, &mfa, field, value).await.status
        }
    })
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    let sessions = app
        .query_db("SELECT COUNT(*) FROM sessions WHERE amr = 'pwd otp mfa'")
        .await;
    assert_eq!(sessions[0][0].as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recovery_code_logs_in_once() {
    let app = start().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let recovery = &ada.recovery_codes[3];

    let mfa = mfa_token(&app, &ada.email).await;
    // Case and the dash do not matter; the code does.
    let typed = recovery.to_uppercase().replace('-', "");
    let granted = grant(&app, &mfa, "recovery_code", &typed).await;
    assert_eq!(granted.status, 200, "{}", granted.text());
    let access = granted.json()["access_token"]
        .as_str()
        .expect("a")
        .to_owned();
    assert_eq!(claims(&access)["amr"], json!(["pwd", "otp", "mfa"]));

    let mfa = mfa_token(&app, &ada.email).await;
    assert_invalid_grant(&grant(&app, &mfa, "recovery_code", recovery).await);
    assert_invalid_grant(&grant(&app, &mfa, "recovery_code", "aaaaa-bbbbb").await);
    let other = grant(&app, &mfa, "recovery_code", &ada.recovery_codes[4]).await;
    assert_eq!(other.status, 200, "{}", other.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn five_wrong_codes_lock_the_factor_for_fifteen_minutes() {
    let app = start().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let mfa = mfa_token(&app, &ada.email).await;

    // Four wrong codes and a right one: a success resets the count.
    for _ in 0..4 {
        assert_invalid_grant(&grant(&app, &mfa, "otp", &wrong(&ada.secret)).await);
    }
    let ok = grant(&app, &mfa, "otp", &code(&ada.secret, 0)).await;
    assert_eq!(ok.status, 200, "{}", ok.text());

    let mfa = mfa_token(&app, &ada.email).await;
    for _ in 0..4 {
        assert_invalid_grant(&grant(&app, &mfa, "otp", &wrong(&ada.secret)).await);
    }
    // The fifth wrong code is answered as wrong; it locks the factor.
    assert_invalid_grant(&grant(&app, &mfa, "otp", &wrong(&ada.secret)).await);
    // Locked: the right code and a recovery code are refused unchecked.
    for (field, value) in [
        ("otp", code(&ada.secret, 1)),
        ("recovery_code", ada.recovery_codes[0].clone()),
    ] {
        let locked = grant(&app, &mfa, field, &value).await;
        locked.assert_problem(429, "second-factor-locked");
        let retry: u64 = locked
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!((850..=900).contains(&retry), "{retry}");
    }
    // The password counters are apart: the password half still answers.
    let again = mfa_token(&app, &ada.email).await;

    let metrics = app.get("/metrics").await.text();
    assert!(
        metrics
            .lines()
            .any(|l| l == "spin_users_second_factor_lockouts_total 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l
                == "spin_users_second_factor_checks_total{proof=\"otp\",result=\"invalid\"} 9"),
        "{metrics}"
    );
    let audit = app
        .query_db("SELECT COUNT(*) FROM audit_log WHERE event = 'second_factor_locked'")
        .await;
    assert_eq!(audit[0][0].as_deref(), Some("1"));

    // Fifteen minutes later (moved in the store) the right code works.
    app.query_db("UPDATE users SET mfa_locked_until = 1").await;
    let later = grant(&app, &again, "otp", &code(&ada.secret, 1)).await;
    assert_eq!(later.status, 200, "{}", later.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_wrong_codes_are_each_counted() {
    let app = Arc::new(start().await);
    let ada = enrolled(&app, "ada@example.com").await;
    let mfa = Arc::new(mfa_token(&app, &ada.email).await);
    let bad = Arc::new(wrong(&ada.secret));
    let statuses = concurrently(&app, 12, |app, _| {
        let mfa = mfa.clone();
        let bad = bad.clone();
        async move { grant(&app, &mfa, "otp", &bad).await.status }
    })
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn password_email_and_deletion_changes_need_a_code_while_the_factor_is_on() {
    let app = start().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let token = &ada.token;
    let change = |extra: Value| {
        let mut body = json!({"password": "a new password", "current_password": PASSWORD});
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        body
    };

    let missing = app
        .send_json(Method::PATCH, "/users/me", token, &change(json!({})))
        .await;
    let problem = missing.assert_problem(422, "validation-failed");
    assert_eq!(problem["errors"][0]["field"], "code");
    assert_eq!(problem["errors"][0]["code"], "required");
    let wrong_code = app
        .send_json(
            Method::PATCH,
            "/users/me",
            token,
            &change(json!({"code": wrong(&ada.secret)})),
        )
        .await;
    let problem = wrong_code.assert_problem(422, "validation-failed");
    assert_eq!(problem["errors"][0]["code"], "incorrect");
    let wrong_recovery = app
        .send_json(
            Method::PATCH,
            "/users/me",
            token,
            &change(json!({"recovery_code": "aaaaa-bbbbb"})),
        )
        .await;
    let problem = wrong_recovery.assert_problem(422, "validation-failed");
    assert_eq!(problem["errors"][0]["field"], "recovery_code");
    // Nothing changed: the old password still starts a login.
    mfa_token(&app, &ada.email).await;
    // A name needs neither.
    let renamed = app
        .send_json(
            Method::PATCH,
            "/users/me",
            token,
            &json!({"name": "Ada L."}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text());

    let email = app
        .send_json(
            Method::PATCH,
            "/users/me",
            token,
            &json!({"email": "ada@new.example", "current_password": PASSWORD}),
        )
        .await;
    email.assert_problem(422, "validation-failed");

    let changed = app
        .send_json(
            Method::PATCH,
            "/users/me",
            token,
            &change(json!({"code": code(&ada.secret, 0)})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(app.login(&ada.email, PASSWORD).await.status, 400);
    assert_eq!(app.login(&ada.email, "a new password").await.status, 403);

    let delete = |extra: Value| {
        let mut body = json!({"current_password": "a new password"});
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        body
    };
    app.send_json(Method::DELETE, "/users/me", token, &delete(json!({})))
        .await
        .assert_problem(422, "validation-failed");
    let deleted = app
        .send_json(
            Method::DELETE,
            "/users/me",
            token,
            &delete(json!({"recovery_code": ada.recovery_codes[0]})),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    assert_eq!(app.login(&ada.email, "a new password").await.status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn turning_the_factor_off_needs_the_password_and_a_code_and_then_a_password_logs_in() {
    let app = start().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let off = |body: Value| {
        let app = &app;
        let token = ada.token.clone();
        async move {
            app.send_json(Method::DELETE, "/users/me/mfa/totp", &token, &body)
                .await
        }
    };
    off(json!({"current_password": PASSWORD}))
        .await
        .assert_problem(422, "validation-failed");
    off(json!({"current_password": "wrong", "code": code(&ada.secret, 0)}))
        .await
        .assert_problem(422, "validation-failed");
    let done = off(json!({"current_password": PASSWORD, "code": code(&ada.secret, 0)})).await;
    assert_eq!(done.status, 204, "{}", done.text());
    assert_eq!(mfa_enabled(&app, &ada.token).await, false);
    let login = app.login(&ada.email, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text());
    let access = login.json()["access_token"].as_str().expect("a").to_owned();
    assert_eq!(claims(&access)["amr"], json!(["pwd"]));
    off(json!({"current_password": PASSWORD, "code": code(&ada.secret, 1)}))
        .await
        .assert_problem(409, "second-factor-not-enabled");
    let audit = app
        .query_db(
            "SELECT event, detail FROM audit_log WHERE event LIKE 'second_factor%' ORDER BY id",
        )
        .await;
    assert_eq!(
        audit,
        vec![
            vec![Some("second_factor_enabled".into()), None],
            vec![Some("second_factor_disabled".into()), Some("self".into())],
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_removes_a_lost_factor_and_the_removal_is_audited() {
    let (app, admin) = TestApp::with_admin().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let path = format!("/users/{}/mfa", ada.id);
    let by_ada = app
        .send_json(Method::DELETE, &path, &ada.token, &json!({}))
        .await;
    by_ada.assert_problem(403, "forbidden");
    let auth = format!("Bearer {admin}");
    let removed = app
        .request(Method::DELETE, &path, &[("authorization", &auth)], "")
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text());
    assert_eq!(app.login(&ada.email, PASSWORD).await.status, 200);
    let again = app
        .request(Method::DELETE, &path, &[("authorization", &auth)], "")
        .await;
    again.assert_problem(409, "second-factor-not-enabled");
    let rows = app
        .query_db("SELECT user_id, detail FROM audit_log WHERE event = 'second_factor_disabled'")
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0].as_deref(), Some(ada.id.as_str()));
    assert!(
        rows[0][1].as_deref().is_some_and(|d| d.starts_with("by ")),
        "{rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_key_second_factors_fail_clearly_and_store_nothing() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_MFA_ENCRYPTION_KEY", "")
        .start()
        .await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    let resp = app
        .send_json(
            Method::POST,
            "/users/me/mfa/totp",
            &token,
            &json!({"current_password": PASSWORD}),
        )
        .await;
    let problem = resp.assert_problem(500, "internal");
    assert!(
        !problem.to_string().contains("mfa_encryption_key"),
        "{problem}"
    );
    let rows = app
        .query_db("SELECT COUNT(*) FROM users WHERE totp_pending IS NOT NULL")
        .await;
    assert_eq!(rows[0][0].as_deref(), Some("0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_at_enrolment_count_like_login_attempts() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_ACCOUNT", "2/900")
        .start()
        .await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    let guess = json!({"current_password": "a guess"});
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let resp = app
            .send_json(Method::POST, "/users/me/mfa/totp", &token, &guess)
            .await;
        statuses.push(resp.status);
    }
    assert_eq!(statuses, [422, 422, 429]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_code_after_a_right_password_counts_against_the_factor_not_the_password() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_ACCOUNT", "2/900")
        .start()
        .await;
    let ada = enrolled(&app, "ada@example.com").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let body = json!({"current_password": PASSWORD, "code": wrong(&ada.secret)});
        let resp = app
            .send_json(Method::DELETE, "/users/me/mfa/totp", &ada.token, &body)
            .await;
        statuses.push((resp.status, resp.json()["code"].clone()));
    }
    let codes: Vec<&str> = statuses
        .iter()
        .map(|(_, c)| c.as_str().expect("code"))
        .collect();
    assert_eq!(
        codes,
        [
            "validation-failed",
            "validation-failed",
            "validation-failed",
            "validation-failed",
            "validation-failed",
            "second-factor-locked"
        ],
        "{statuses:?}"
    );
}
