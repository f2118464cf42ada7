//! A forgotten password: `POST /password/forgot` answers alike for every
//! address and mails a signed `email.password_reset` event through the job
//! queue; `POST /password/reset` spends its one-time token once, sets the
//! new password and ends every session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;
use spin_users_component_tests::{
    Delivery, TestApp, TestAppBuilder, TestResponse, WebhookReceiver, concurrently, urlencode,
};

const WEBHOOK_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const PASSWORD: &str = "correct horse";
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

pub(crate) fn with_mail(receiver: &WebhookReceiver) -> TestAppBuilder {
    TestApp::spin_users()
        .env("SPIN_VARIABLE_WEBHOOK_URL", &receiver.url())
        .env("SPIN_VARIABLE_WEBHOOK_ORIGIN", &receiver.origin)
        .env("SPIN_VARIABLE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("SPIN_VARIABLE_APP_URL", "https://app.example.com")
        .env("SPIN_VARIABLE_SERVICE_NAME", "Acme")
        .env("SPIN_VARIABLE_PASSWORD_FORGOT_LIMIT_PER_ADDRESS", "100/60")
}

/// The mail events of `kind` the receiver has, waiting up to 10 s for
/// `count` of them.
pub(crate) async fn mails(
    receiver: &WebhookReceiver,
    kind: &str,
    count: usize,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found: Vec<serde_json::Value> = receiver
            .deliveries()
            .iter()
            .map(|d: &Delivery| {
                standardwebhooks::Webhook::new(WEBHOOK_SECRET)
                    .expect("secret")
                    .verify(&d.body, &d.header_map())
                    .expect("every delivery is signed");
                serde_json::from_slice::<serde_json::Value>(&d.body).expect("JSON")
            })
            .filter(|event| event["type"] == kind)
            .collect();
        if found.len() >= count || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn forgot(app: &TestApp, email: &str) -> TestResponse {
    app.post_json("/password/forgot", &json!({ "email": email }))
        .await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> TestResponse {
    app.post_json(
        "/password/reset",
        &json!({ "token": token, "password": password }),
    )
    .await
}

async fn login(app: &TestApp, password: &str) -> TestResponse {
    app.login("ada@example.com", password).await
}

/// A reset token mailed to Ada.
async fn mailed_token(app: &TestApp, receiver: &WebhookReceiver, nth: usize) -> String {
    assert_eq!(forgot(app, "ada@example.com").await.status, 202);
    let mail = mails(receiver, "email.password_reset", nth).await;
    let event = mail.get(nth - 1).expect("the reset mail arrives");
    event["data"]["token"].as_str().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mailed_token_resets_the_password_once_and_ends_every_session() {
    let receiver = WebhookReceiver::start().await;
    let app = with_mail(&receiver).start().await;
    let ada = app.register("Ada", "ada@example.com", PASSWORD).await;
    let phone = login(&app, PASSWORD).await.json();
    let laptop = login(&app, PASSWORD).await.json();
    for session in [&phone, &laptop] {
        let access = session["access_token"].as_str().expect("access");
        assert_eq!(app.get_with_token("/users/me", access).await.status, 200);
    }

    let asked = forgot(&app, "ada@example.com").await;
    assert_eq!(asked.status, 202, "{}", asked.text());
    let mail = mails(&receiver, "email.password_reset", 1).await;
    assert_eq!(mail.len(), 1, "one reset mail");
    let data = &mail[0]["data"];
    assert_eq!(data["to"], "ada@example.com");
    assert_eq!(data["user"], json!({"id": ada["id"], "name": "Ada"}));
    assert_eq!(data["subject"], "Reset your Acme password");
    let token = data["token"].as_str().expect("token").to_owned();
    assert_eq!(token.len(), 43, "256 bits, base64url");
    let link = format!("https://app.example.com/reset-password?token={token}");
    assert_eq!(data["link"], link.as_str());
    for part in ["text", "html"] {
        assert!(data[part].as_str().expect(part).contains(&link), "{part}");
    }
    let stored = app
        .query_db("SELECT token_hash FROM one_time_tokens WHERE purpose = 'password_reset'")
        .await;
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0][0].as_deref(), Some(token.as_str()), "hashed");
    let jobs = app.query_db("SELECT payload FROM jobs").await;
    assert!(
        jobs.iter()
            .all(|row| !row[0].as_deref().unwrap_or_default().contains(&token)),
        "no job holds the token"
    );

    let weak = reset(&app, &token, "short").await;
    weak.assert_problem(422, "validation-failed");
    let done = reset(&app, &token, "a brand new passphrase").await;
    assert_eq!(done.status, 204, "{}", done.text());

    for session in [&phone, &laptop] {
        let access = session["access_token"].as_str().expect("access");
        let refresh = session["refresh_token"].as_str().expect("refresh");
        assert_eq!(app.get_with_token("/users/me", access).await.status, 401);
        assert_eq!(app.refresh(refresh).await.json()["error"], "invalid_grant");
    }
    assert_eq!(login(&app, PASSWORD).await.json()["error"], "invalid_grant");
    assert_eq!(login(&app, "a brand new passphrase").await.status, 200);
    let fresh = app
        .access_token("ada@example.com", "a brand new passphrase")
        .await;
    let me = app.get_with_token("/users/me", &fresh).await.json();
    assert_eq!(me["email_verified"], true, "the mailbox was proven");
    reset(&app, &token, "yet another passphrase")
        .await
        .assert_problem(400, "invalid-token");

    let notice = mails(&receiver, "email.password_changed", 1).await;
    assert_eq!(notice.len(), 1, "the notice");
    assert_eq!(notice[0]["data"]["to"], "ada@example.com");
    assert!(notice[0]["data"].get("token").is_none());
    let audit = app
        .query_db("SELECT count(*) FROM audit_log WHERE event = 'password_reset'")
        .await;
    assert_eq!(audit, vec![vec![Some("1".to_owned())]]);
    let metrics = app.get("/metrics").await.text();
    for series in [
        "spin_users_password_resets_total 1\n",
        "spin_users_sessions_ended_total{reason=\"password_reset\"} 2\n",
        "spin_users_emails_total{type=\"email.password_reset\"} 1\n",
    ] {
        assert!(metrics.contains(series), "{series} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_answers_alike_for_enabled_disabled_and_unknown_addresses() {
    let receiver = WebhookReceiver::start().await;
    let app = with_mail(&receiver).start().await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    app.register("Bob", "bob@example.com", PASSWORD).await;
    app.query_db("UPDATE users SET disabled = 1 WHERE email = 'bob@example.com'")
        .await;

    let mut answers = Vec::new();
    for email in ["ada@example.com", "bob@example.com", "nobody@example.com"] {
        let resp = forgot(&app, email).await;
        assert_eq!(resp.status, 202, "{email}");
        answers.push((resp.text(), resp.header("content-type").map(str::to_owned)));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");

    let sent = mails(&receiver, "email.password_reset", 2).await;
    let to: Vec<_> = sent.iter().map(|m| m["data"]["to"].clone()).collect();
    assert_eq!(
        to,
        vec![json!("ada@example.com")],
        "only the enabled account"
    );
    forgot(&app, "not an address")
        .await
        .assert_problem(422, "validation-failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_parallel_resets_with_one_token_give_exactly_one_success() {
    let receiver = WebhookReceiver::start().await;
    let app = Arc::new(with_mail(&receiver).start().await);
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let token = mailed_token(&app, &receiver, 1).await;

    let statuses = concurrently(&app, 16, |app, n| {
        let token = token.clone();
        async move {
            reset(&app, &token, &format!("new passphrase {n}"))
                .await
                .status
        }
    })
    .await;

    let successes = statuses.iter().filter(|s| **s == 204).count();
    assert_eq!(successes, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 204 || *s == 400),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn made_up_expired_and_moved_tokens_get_one_answer() {
    let receiver = WebhookReceiver::start().await;
    let app = with_mail(&receiver).start().await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let expired = mailed_token(&app, &receiver, 1).await;
    app.query_db("UPDATE one_time_tokens SET expires_at = 1")
        .await;
    let moved = mailed_token(&app, &receiver, 2).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    let body = json!({"email": "ada@elsewhere.example", "current_password": PASSWORD});
    let changed = app
        .send_json(Method::PATCH, "/users/me", &token, &body)
        .await;
    assert_eq!(changed.status, 202, "{}", changed.text());
    let confirmation = mails(&receiver, "email.change_confirmation", 1).await;
    let change = confirmation[0]["data"]["token"].as_str().expect("token");
    let confirmed = app
        .post_json("/email/confirm-change", &json!({ "token": change }))
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());

    for token in [
        expired.as_str(),
        moved.as_str(),
        "made-up",
        &"x".repeat(500),
    ] {
        reset(&app, token, "a brand new passphrase")
            .await
            .assert_problem(400, "invalid-token");
    }
    let login = app
        .request(
            Method::POST,
            "/token",
            &[FORM],
            format!(
                "grant_type=password&username={}&password={}",
                urlencode("ada@elsewhere.example"),
                urlencode(PASSWORD)
            ),
        )
        .await;
    assert_eq!(login.status, 200, "the password stands");
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_is_limited_per_target_address_with_the_ratelimit_headers() {
    let receiver = WebhookReceiver::start().await;
    let app = with_mail(&receiver)
        .env("SPIN_VARIABLE_PASSWORD_FORGOT_LIMIT_PER_ADDRESS", "3/900")
        .start()
        .await;
    for _ in 0..3 {
        let resp = forgot(&app, "ada@example.com").await;
        assert_eq!(resp.status, 202);
        assert!(resp.header("ratelimit").is_some(), "headers on success");
    }
    let refused = forgot(&app, "ada@example.com").await;
    refused.assert_problem(429, "rate-limited");
    assert!(refused.header("retry-after").is_some());
    let policy = refused.header("ratelimit-policy").expect("policy");
    assert!(policy.contains("password-forgot-address"), "{policy}");
    assert_eq!(
        forgot(&app, "bob@example.com").await.status,
        202,
        "another address"
    );
}
