//! Changing the e-mail address with mail: `PATCH /users/me` answers `202`
//! and changes nothing until the new address confirms; the old one is
//! told. Without `webhook_url` the change is immediate (tests/api/users.rs).

use http::Method;
use serde_json::json;
use spin_users_component_tests::{TestApp, TestResponse, WebhookReceiver};

use crate::password_reset::{mails, with_mail};

const PASSWORD: &str = "correct horse";

async fn move_to(app: &TestApp, token: &str, email: &str, current: &str) -> TestResponse {
    let body = json!({"email": email, "current_password": current});
    app.send_json(Method::PATCH, "/users/me", token, &body)
        .await
}

async fn confirm(app: &TestApp, token: &str) -> TestResponse {
    app.post_json("/email/confirm-change", &json!({ "token": token }))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_address_applies_only_once_it_confirms_and_the_old_one_is_told() {
    let receiver = WebhookReceiver::start().await;
    let app = with_mail(&receiver).start().await;
    let ada = app.register("Ada", "ada@example.com", PASSWORD).await;
    let access = app.access_token("ada@example.com", PASSWORD).await;

    let asked = move_to(&app, &access, "ada@new.example", PASSWORD).await;

    assert_eq!(asked.status, 202, "{}", asked.text());
    let me = app.get_with_token("/users/me", &access).await.json();
    assert_eq!(me["email"], "ada@example.com", "nothing changed yet");
    let confirmation = mails(&receiver, "email.change_confirmation", 1).await;
    let data = &confirmation[0]["data"];
    assert_eq!(data["to"], "ada@new.example", "to the new address");
    let token = data["token"].as_str().expect("token").to_owned();
    let link = data["link"].as_str().expect("link");
    assert!(
        link.ends_with(&format!("/confirm-email?token={token}")),
        "{link}"
    );
    let notice = mails(&receiver, "email.change_requested", 1).await;
    assert_eq!(notice[0]["data"]["to"], "ada@example.com", "to the old one");
    assert!(notice[0]["data"].get("token").is_none(), "with no token");
    let text = notice[0]["data"]["text"].as_str().expect("text");
    assert!(text.contains("ada@new.example"), "{text}");

    let confirmed = confirm(&app, &token).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());
    let view = confirmed.json();
    assert_eq!(view["id"], ada["id"]);
    assert_eq!(view["email"], "ada@new.example");
    assert_eq!(view["email_verified"], true);
    assert_eq!(app.login("ada@new.example", PASSWORD).await.status, 200);
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status, 400);
    confirm(&app, &token)
        .await
        .assert_problem(400, "invalid-token");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_taken_meanwhile_is_a_conflict_and_a_wrong_password_asks_nothing() {
    let receiver = WebhookReceiver::start().await;
    let app = with_mail(&receiver).start().await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let access = app.access_token("ada@example.com", PASSWORD).await;

    move_to(&app, &access, "ada@new.example", "wrong password")
        .await
        .assert_problem(422, "validation-failed");
    assert_eq!(
        move_to(&app, &access, "ada@new.example", PASSWORD)
            .await
            .status,
        202
    );
    let token = mails(&receiver, "email.change_confirmation", 1).await[0]["data"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.register("Bob", "ada@new.example", PASSWORD).await;

    confirm(&app, &token)
        .await
        .assert_problem(409, "email-taken");
    let me = app.get_with_token("/users/me", &access).await.json();
    assert_eq!(me["email"], "ada@example.com");
    let sent = mails(&receiver, "email.change_confirmation", 2).await;
    assert_eq!(sent.len(), 1, "the refused attempt mailed nothing");
}
