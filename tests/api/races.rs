//! Writes that race: a change answered `200` sticks, preconditions
//! (`If-Match`) hold, and a warm cache never hands back privileges an admin
//! has just taken away.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::Method;
use serde_json::json;
use spin_users_component_tests::{TestApp, TestResponse};

/// An app with production argon2 costs (so a password change spends tens
/// of milliseconds between reading the user and writing them back), an
/// administrator, and Ada promoted to admin. Returns the app, root's token,
/// Ada's id and Ada's token.
async fn ada_the_admin(owasp: bool) -> (Arc<TestApp>, String, String, String) {
    let builder = if owasp {
        TestApp::spin_users_owasp()
    } else {
        TestApp::spin_users()
    };
    let app = builder
        .env("SPIN_VARIABLE_ADMIN_EMAIL", "root@example.com")
        .env("SPIN_VARIABLE_ADMIN_PASSWORD", "admin password")
        .start()
        .await;
    let root = app
        .bootstrap_admin("root@example.com", "admin password")
        .await;
    let id = app
        .register("Ada", "ada@example.com", "password 0 is long")
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    set_roles(&app, &root, &id, &["user", "admin"]).await;
    let ada = app
        .access_token("ada@example.com", "password 0 is long")
        .await;
    (Arc::new(app), root, id, ada)
}

async fn set_roles(app: &TestApp, token: &str, id: &str, roles: &[&str]) -> TestResponse {
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/users/{id}"),
            token,
            &json!({ "roles": roles }),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp
}

async fn stored_roles(app: &TestApp, id: &str) -> String {
    let rows = app
        .query_db(&format!("SELECT roles FROM users WHERE id = '{id}'"))
        .await;
    rows[0][0].clone().expect("roles")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admins_demotion_is_never_undone_by_a_racing_password_change() {
    let (app, root, id, ada) = ada_the_admin(true).await;
    let mut password = "password 0 is long".to_owned();

    for round in 1..=6 {
        let next = format!("password {round} is long");
        // Ada's change starts first and spends its argon2 time between
        // reading her row and writing it; the demotion lands in between.
        let change = {
            let (app, ada, current, next) =
                (app.clone(), ada.clone(), password.clone(), next.clone());
            tokio::spawn(async move {
                app.send_json(
                    Method::PATCH,
                    "/users/me",
                    &ada,
                    &json!({"password": next, "current_password": current}),
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(15)).await;
        let demotion = app
            .send_json(
                Method::PATCH,
                &format!("/users/{id}"),
                &root,
                &json!({"roles": ["user"]}),
            )
            .await;
        let change = change.await.expect("change task");

        assert_eq!(demotion.status, 200, "round {round}: {}", demotion.text());
        assert_eq!(
            stored_roles(&app, &id).await,
            "user",
            "round {round}: the demotion answered 200 and must stick (password change: {} {})",
            change.status,
            change.text()
        );
        if change.status == 200 {
            password = next;
        } else {
            change.assert_problem(409, "edit-conflict");
        }
        let login = app.login("ada@example.com", &password).await;
        assert_eq!(
            login.status, 200,
            "round {round}: the password the API reported must be the one stored"
        );
        set_roles(&app, &root, &id, &["user", "admin"]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn if_match_guards_patch_and_delete() {
    let (app, root, id, ada) = ada_the_admin(false).await;
    let auth = format!("Bearer {ada}");
    let etag = app
        .get_with_token("/users/me", &ada)
        .await
        .header("etag")
        .expect("etag")
        .to_owned();
    let patch = |tag: String, body: serde_json::Value| {
        let (app, auth) = (app.clone(), auth.clone());
        async move {
            app.request(
                Method::PATCH,
                "/users/me",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                    ("if-match", &tag),
                ],
                body.to_string(),
            )
            .await
        }
    };

    let current = patch(etag.clone(), json!({"name": "Ada L."})).await;
    let stale = patch(etag.clone(), json!({"name": "Ada M."})).await;
    let weak = patch(
        format!("W/{}", current.header("etag").unwrap_or("")),
        json!({"name": "Ada W."}),
    )
    .await;
    let any = patch("*".into(), json!({"name": "Ada S."})).await;

    assert_eq!(current.status, 200, "{}", current.text());
    stale.assert_problem(412, "precondition-failed");
    weak.assert_problem(412, "precondition-failed");
    assert_eq!(any.status, 200, "{}", any.text());
    let me = app.get_with_token("/users/me", &ada).await;
    assert_eq!(
        me.json()["name"],
        "Ada S.",
        "the refused changes left nothing"
    );
    assert_eq!(
        current.header("etag").map(str::len),
        Some(34),
        "a PATCH answers with the new ETag"
    );

    // An admin's delete with an old tag is refused; with the current one it
    // goes through.
    let root_auth = format!("Bearer {root}");
    let delete = |tag: String| {
        let (app, root_auth, path) = (app.clone(), root_auth.clone(), format!("/users/{id}"));
        async move {
            app.request(
                Method::DELETE,
                &path,
                &[("authorization", &root_auth), ("if-match", &tag)],
                "",
            )
            .await
        }
    };
    delete(etag)
        .await
        .assert_problem(412, "precondition-failed");
    let now = app
        .get_with_token(&format!("/users/{id}"), &root)
        .await
        .header("etag")
        .expect("etag")
        .to_owned();
    assert_eq!(delete(now).await.status, 204);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_demoted_admin_loses_admin_rights_at_once_under_a_warm_cache() {
    let (app, root, id, ada) = ada_the_admin(false).await;
    // Twelve clients keep Ada's cache entry warm, as a probe did.
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..12)
        .map(|_| {
            let (app, ada, stop) = (app.clone(), ada.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let me = app.get_with_token("/users/me", &ada).await;
                    assert_eq!(me.status, 200, "{}", me.text());
                }
            })
        })
        .collect();

    let mut failures = Vec::new();
    for round in 0..15 {
        set_roles(&app, &root, &id, &["user"]).await;
        let promote = app
            .send_json(
                Method::PATCH,
                &format!("/users/{id}"),
                &ada,
                &json!({"roles": ["user", "admin"]}),
            )
            .await;
        let list = app.get_with_token("/users", &ada).await;
        let me = app.get_with_token("/users/me", &ada).await.json();
        if promote.status != 403 || list.status != 403 || me["roles"] != json!(["user"]) {
            failures.push(format!(
                "round {round}: self-promotion {}, list {}, /users/me roles {}",
                promote.status, list.status, me["roles"]
            ));
        }
        set_roles(&app, &root, &id, &["user", "admin"]).await;
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("reader");
    }

    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(stored_roles(&app, &id).await, "user,admin");
}
