//! The caller's own account: `PATCH` and `DELETE /users/me`.

use http::Method;
use serde_json::json;
use spin_users_component_tests::TestApp;

async fn ada(app: &TestApp) -> (serde_json::Value, String) {
    let user = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let token = app.access_token("ada@example.com", "correct horse").await;
    (user, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_me_changes_the_name_without_a_password() {
    let app = TestApp::spin_users().start().await;
    let (_, token) = ada(&app).await;

    let resp = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &token,
            &json!({"name": "Ada L."}),
        )
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["name"], "Ada L.");
    assert_eq!(
        app.get_with_token("/users/me", &token).await.json()["name"],
        "Ada L."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_me_needs_the_current_password_for_email_and_password() {
    let app = TestApp::spin_users().start().await;
    let (_, token) = ada(&app).await;

    let missing = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &token,
            &json!({"email": "new@example.com"}),
        )
        .await;
    let wrong = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &token,
            &json!({"password": "new password", "current_password": "nope nope"}),
        )
        .await;

    assert_eq!(
        missing.assert_problem(422, "validation-failed")["errors"][0]["field"],
        "current_password"
    );
    assert_eq!(
        wrong.assert_problem(422, "validation-failed")["errors"][0]["code"],
        "incorrect"
    );
    assert_eq!(
        app.login("ada@example.com", "correct horse").await.status,
        200,
        "nothing changed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_me_to_a_taken_email_is_a_conflict() {
    let app = TestApp::spin_users().start().await;
    let (_, token) = ada(&app).await;
    app.register("Bob", "bob@example.com", "battery staple")
        .await;

    let resp = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &token,
            &json!({"email": "BOB@example.com", "current_password": "correct horse"}),
        )
        .await;

    resp.assert_problem(409, "email-taken");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_ends_every_other_session() {
    let app = TestApp::spin_users().start().await;
    ada(&app).await;
    let this_device = app.login("ada@example.com", "correct horse").await.json();
    let other_device = app.login("ada@example.com", "correct horse").await.json();
    let token = this_device["access_token"].as_str().expect("access");

    let resp = app
        .send_json(
            Method::PATCH,
            "/users/me",
            token,
            &json!({"password": "brand new pass", "current_password": "correct horse"}),
        )
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    let refresh_token = |t: &serde_json::Value| t["refresh_token"].as_str().expect("rt").to_owned();
    assert_eq!(app.refresh(&refresh_token(&other_device)).await.status, 400);
    assert_eq!(app.refresh(&refresh_token(&this_device)).await.status, 200);
    assert_eq!(
        app.login("ada@example.com", "brand new pass").await.status,
        200
    );
    assert_eq!(
        app.login("ada@example.com", "correct horse").await.status,
        400
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_me_with_the_password_removes_the_account_and_its_tokens() {
    let app = TestApp::spin_users().start().await;
    let (_, token) = ada(&app).await;

    let refused = app
        .send_json(
            Method::DELETE,
            "/users/me",
            &token,
            &json!({"current_password": "wrong one"}),
        )
        .await;
    let deleted = app
        .send_json(
            Method::DELETE,
            "/users/me",
            &token,
            &json!({"current_password": "correct horse"}),
        )
        .await;

    refused.assert_problem(422, "validation-failed");
    assert_eq!(deleted.status, 204);
    assert_eq!(
        app.get_with_token("/users/me", &token).await.status,
        401,
        "token of a deleted user"
    );
    assert_eq!(
        app.login("ada@example.com", "correct horse").await.status,
        400
    );
    let again = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    assert_eq!(again["email"], "ada@example.com", "the email is free again");
}
