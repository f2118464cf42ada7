//! The audit log: security events are recorded with reasons, never secrets.

use spin_users_component_tests::TestApp;

async fn audit_rows(app: &TestApp) -> Vec<Vec<Option<String>>> {
    app.query_db("SELECT event, user_id, client_ip, detail FROM audit_log ORDER BY id")
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_and_logins_are_audited_with_reasons() {
    let app = TestApp::spin_users().start().await;
    let ada = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let id = ada["id"].as_str().expect("id").to_owned();

    app.login("ada@example.com", "wrong horse").await;
    app.login("nobody@example.com", "correct horse").await;
    app.login("ada@example.com", "correct horse").await;

    let rows = audit_rows(&app).await;
    let summary: Vec<(Option<&str>, Option<&str>, Option<&str>)> = rows
        .iter()
        .map(|r| (r[0].as_deref(), r[1].as_deref(), r[3].as_deref()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Some("registered"), Some(id.as_str()), None),
            (
                Some("login_failed"),
                Some(id.as_str()),
                Some("wrong_password")
            ),
            (Some("login_failed"), None, Some("unknown_email")),
            (Some("login_succeeded"), Some(id.as_str()), None),
        ]
    );
    assert!(
        rows.iter().all(|r| r[2].as_deref() == Some("127.0.0.1")),
        "client address recorded"
    );
    let everything = format!("{rows:?}");
    assert!(
        !everything.contains("horse"),
        "no password in the audit log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_token_reuse_is_audited() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let login = app.login("ada@example.com", "correct horse").await.json();
    let token = login["refresh_token"].as_str().expect("refresh").to_owned();
    assert_eq!(app.refresh(&token).await.status, 200);
    // Move the rotation back in time, so the next use is outside the grace window.
    app.query_db(
        "UPDATE refresh_tokens SET rotated_at = rotated_at - 3600 WHERE rotated_at IS NOT NULL",
    )
    .await;

    let replay = app.refresh(&token).await;

    assert_eq!(replay.status, 400);
    let rows = audit_rows(&app).await;
    assert!(
        rows.iter()
            .any(|r| r[0].as_deref() == Some("refresh_token_reused")),
        "{rows:?}"
    );
    let live = app
        .query_db("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL")
        .await;
    assert_eq!(
        live,
        vec![vec![Some("0".to_string())]],
        "the whole family is revoked"
    );
}
