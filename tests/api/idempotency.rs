//! `Idempotency-Key` on `POST /users`.

use std::sync::Arc;

use http::Method;
use serde_json::json;
use spin_users_component_tests::{TestApp, TestResponse, concurrently};

async fn register_with_key(app: &TestApp, key: &str, email: &str) -> TestResponse {
    let body = json!({"name": "Ada", "email": email, "password": "correct horse"});
    app.request(
        Method::POST,
        "/users",
        &[
            ("content-type", "application/json"),
            ("idempotency-key", key),
        ],
        body.to_string(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_registration_replays_the_first_answer() {
    let app = TestApp::spin_users().start().await;

    let first = register_with_key(&app, "k-1", "ada@example.com").await;
    let retry = register_with_key(&app, "k-1", "ada@example.com").await;

    assert_eq!(first.status, 201);
    assert_eq!(retry.status, 201, "not a 409: {}", retry.text());
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        app.query_db("SELECT count(*) FROM users").await,
        vec![vec![Some("1".to_string())]]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_key_with_another_body_is_refused() {
    let app = TestApp::spin_users().start().await;
    register_with_key(&app, "k-1", "ada@example.com").await;

    let other = register_with_key(&app, "k-1", "bob@example.com").await;

    other.assert_problem(422, "idempotency-key-reused");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_are_replayed_too_and_keys_are_validated() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;

    let taken = register_with_key(&app, "k-2", "ada@example.com").await;
    let again = register_with_key(&app, "k-2", "ada@example.com").await;
    let bad_key = register_with_key(&app, &"k".repeat(300), "new@example.com").await;

    taken.assert_problem(409, "email-taken");
    again.assert_problem(409, "email-taken");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    bad_key.assert_problem(422, "validation-failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_with_one_key_create_one_account() {
    let app = Arc::new(TestApp::spin_users().start().await);

    let statuses = concurrently(&app, 8, |app, _| async move {
        register_with_key(&app, "k-3", "ada@example.com")
            .await
            .status
    })
    .await;

    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&201));
    assert_eq!(
        app.query_db("SELECT count(*) FROM users").await,
        vec![vec![Some("1".to_string())]]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_never_replays_another_clients_answer() {
    let app = TestApp::spin_users().start().await;
    let first = register_with_key(&app, "shared-key", "ada@example.com").await;

    let body = json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse"});
    let elsewhere = app
        .request_from(
            std::net::IpAddr::from([127, 0, 0, 77]),
            Method::POST,
            "/users",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "shared-key"),
            ],
            body.to_string(),
        )
        .await;

    assert_eq!(first.status, 201);
    assert_eq!(elsewhere.header("idempotent-replayed"), None);
    elsewhere.assert_problem(409, "email-taken");
    assert!(
        !elsewhere
            .text()
            .contains(first.json()["id"].as_str().expect("id")),
        "nothing of the first client's answer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_whose_request_died_is_released_after_a_short_lease() {
    let app = TestApp::spin_users().start().await;
    register_with_key(&app, "k-died", "ada@example.com").await;
    // As if the request had died before completing: no stored answer.
    app.query_db("UPDATE idempotency_keys SET status = NULL, body = NULL, location = NULL")
        .await;

    let held = register_with_key(&app, "k-died", "ada@example.com").await;
    app.query_db("UPDATE idempotency_keys SET created_at = created_at - 31")
        .await;
    let released = register_with_key(&app, "k-died", "ada@example.com").await;

    held.assert_problem(409, "idempotency-key-in-use");
    // Run again, not replayed: the account exists, so this run finds it.
    released.assert_problem(409, "email-taken");
    assert_eq!(released.header("idempotent-replayed"), None);
}
