//! Address verification: registration mails an `email.verification` event;
//! `POST /email/verify` spends its token once and marks the address proven;
//! `POST /users/me/verify-email` asks for another, limited per account.

use std::sync::Arc;

use http::Method;
use serde_json::json;
use spin_users_component_tests::{TestApp, TestResponse, WebhookReceiver, concurrently};

use crate::password_reset::{mails, with_mail};

const PASSWORD: &str = "correct horse";

async fn verify(app: &TestApp, token: &str) -> TestResponse {
    app.post_json("/email/verify", &json!({ "token": token }))
        .await
}

fn token_of(mail: &serde_json::Value) -> String {
    mail["data"]["token"].as_str().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_mails_a_link_that_proves_the_address_once() {
    let receiver = WebhookReceiver::start().await;
    let app = with_mail(&receiver).start().await;
    let ada = app.register("Ada", "ada@example.com", PASSWORD).await;
    assert_eq!(ada["email_verified"], false);
    let access = app.access_token("ada@example.com", PASSWORD).await;
    assert_eq!(
        app.get_with_token("/users/me", &access).await.json()["email_verified"],
        false,
        "cache warm"
    );

    let mail = mails(&receiver, "email.verification", 1).await;
    assert_eq!(mail.len(), 1, "one verification mail");
    let data = &mail[0]["data"];
    assert_eq!(data["to"], "ada@example.com");
    assert_eq!(data["subject"], "Confirm your address for Acme");
    let token = token_of(&mail[0]);
    let link = format!("https://app.example.com/verify-email?token={token}");
    assert_eq!(data["link"], link.as_str());

    let verified = verify(&app, &token).await;
    assert_eq!(verified.status, 200, "{}", verified.text());
    assert_eq!(verified.json()["id"], ada["id"]);
    assert_eq!(verified.json()["email_verified"], true);
    let me = app.get_with_token("/users/me", &access).await.json();
    assert_eq!(me["email_verified"], true, "no stale cached copy");
    let info = app.get_with_token("/userinfo", &access).await.json();
    assert_eq!(info["email_verified"], true);
    verify(&app, &token)
        .await
        .assert_problem(400, "invalid-token");
    for made_up in ["made-up", "", &"y".repeat(300)] {
        verify(&app, made_up)
            .await
            .assert_problem(400, "invalid-token");
    }
    let metrics = app.get("/metrics").await.text();
    for series in [
        "spin_users_emails_total{type=\"email.verification\"} 1\n",
        "spin_users_email_verifications_total 1\n",
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_parallel_uses_of_one_verification_token_give_one_success() {
    let receiver = WebhookReceiver::start().await;
    let app = Arc::new(with_mail(&receiver).start().await);
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let token = token_of(&mails(&receiver, "email.verification", 1).await[0]);

    let statuses = concurrently(&app, 16, |app, _| {
        let token = token.clone();
        async move { verify(&app, &token).await.status }
    })
    .await;

    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn asking_again_sends_a_new_link_within_a_per_account_limit() {
    let receiver = WebhookReceiver::start().await;
    let app = with_mail(&receiver)
        .env("SPIN_VARIABLE_VERIFY_EMAIL_LIMIT_PER_ACCOUNT", "2/3600")
        .start()
        .await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let access = app.access_token("ada@example.com", PASSWORD).await;
    let bearer = format!("Bearer {access}");
    let headers = [("authorization", bearer.as_str())];
    let ask = || app.request(Method::POST, "/users/me/verify-email", &headers, "");
    for _ in 0..2 {
        let resp = ask().await;
        assert_eq!(resp.status, 202, "{}", resp.text());
        assert!(resp.header("ratelimit").is_some());
    }
    let refused = ask().await;
    refused.assert_problem(429, "rate-limited");
    assert!(refused.header("retry-after").is_some());
    assert!(
        refused
            .header("ratelimit-policy")
            .is_some_and(|p| p.contains("verify-email-account"))
    );
    let all = mails(&receiver, "email.verification", 3).await;
    assert_eq!(all.len(), 3, "the registration's and two more");
    let tokens: Vec<_> = all.iter().map(token_of).collect();
    assert!(
        tokens[0] != tokens[1] && tokens[1] != tokens[2],
        "fresh tokens"
    );
    assert_eq!(
        verify(&app, &tokens[0]).await.status,
        200,
        "any of them works"
    );
    assert_eq!(app.get("/users/me/verify-email").await.status, 405);
    let anonymous = app
        .request(Method::POST, "/users/me/verify-email", &[], "")
        .await;
    anonymous.assert_problem(401, "unauthorized");
}

/// `email_verification = "required"`.
async fn required(receiver: &WebhookReceiver) -> TestApp {
    with_mail(receiver)
        .env("SPIN_VARIABLE_EMAIL_VERIFICATION", "required")
        .start()
        .await
}

async fn sign_up(app: &TestApp, name: &str) -> TestResponse {
    let body = json!({"name": name, "email": "ada@example.com", "password": PASSWORD});
    app.post_json("/users", &body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn when_required_registration_reveals_no_taken_address_and_the_owner_is_told() {
    let receiver = WebhookReceiver::start().await;
    let app = required(&receiver).await;

    let new = sign_up(&app, "Ada").await;
    let taken = sign_up(&app, "Mallory").await;

    assert_eq!((new.status, taken.status), (202, 202));
    assert_eq!(new.text(), taken.text(), "one answer");
    assert_eq!(new.header("location"), None);
    assert_eq!(taken.header("location"), None);
    let notice = mails(&receiver, "email.account_exists", 1).await;
    assert_eq!(notice.len(), 1, "the owner of the taken address is told");
    assert_eq!(notice[0]["data"]["to"], "ada@example.com");
    assert_eq!(
        notice[0]["data"]["user"]["name"], "Ada",
        "the owner, not Mallory"
    );
    let accounts = app.query_db("SELECT name FROM users").await;
    assert_eq!(accounts, vec![vec![Some("Ada".to_owned())]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn when_required_an_unverified_account_logs_in_only_after_proving_its_address() {
    let receiver = WebhookReceiver::start().await;
    let app = required(&receiver).await;
    assert_eq!(sign_up(&app, "Ada").await.status, 202);

    let wrong = app.login("ada@example.com", "wrong password").await.json();
    let unverified = app.login("ada@example.com", PASSWORD).await.json();

    assert_eq!(wrong["error"], "invalid_grant");
    assert_eq!(unverified["error"], "invalid_grant");
    let why = unverified["error_description"]
        .as_str()
        .expect("description");
    assert!(why.contains("not verified"), "{why}");
    assert_ne!(
        wrong["error_description"], unverified["error_description"],
        "the reason is given only once the password was right"
    );
    let token = token_of(&mails(&receiver, "email.verification", 1).await[0]);
    assert_eq!(verify(&app, &token).await.status, 200);
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_verification_mode_fails_loudly() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_EMAIL_VERIFICATION", "sometimes")
        .start()
        .await;
    let body = json!({"name": "Ada", "email": "ada@example.com", "password": PASSWORD});
    app.post_json("/users", &body)
        .await
        .assert_problem(500, "internal");
}

#[tokio::test(flavor = "multi_thread")]
async fn when_required_the_configured_administrator_needs_no_mailed_proof() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_EMAIL_VERIFICATION", "required")
        .env("SPIN_VARIABLE_ADMIN_EMAIL", "root@example.com")
        .env("SPIN_VARIABLE_ADMIN_PASSWORD", "admin password")
        .start()
        .await;
    let admin = app
        .bootstrap_admin("root@example.com", "admin password")
        .await;
    let me = app.get_with_token("/users/me", &admin).await.json();
    assert_eq!(me["email_verified"], true, "{me}");
}
