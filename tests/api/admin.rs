//! Administration: the bootstrap administrator, listing, role and
//! disabled changes, deletion, and what non-admins are refused.

use http::Method;
use serde_json::json;
use spin_users_component_tests::{CHOSEN_ADMIN_PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn the_first_admin_is_created_from_variables_at_first_login() {
    let (app, token) = TestApp::with_admin().await;

    let me = app.get_with_token("/users/me", &token).await.json();

    assert_eq!(me["roles"], json!(["user", "admin"]));
    let again = app
        .access_token("root@example.com", CHOSEN_ADMIN_PASSWORD)
        .await;
    assert!(
        !again.is_empty(),
        "idempotent: the second login finds the account"
    );
    let admins = app.get_with_token("/users?role=admin", &token).await.json();
    assert_eq!(admins["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_users_is_for_admins_only() {
    let (app, _) = TestApp::with_admin().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let user_token = app.access_token("ada@example.com", "correct horse").await;

    app.get_with_token("/users", &user_token)
        .await
        .assert_problem(403, "forbidden");
    app.get("/users").await.assert_problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_pages_with_cursors_and_filters() {
    let (app, token) = TestApp::with_admin().await;
    for n in 0..5 {
        app.register(
            &format!("User {n}"),
            &format!("user{n}@example.com"),
            "correct horse",
        )
        .await;
    }

    let mut seen = Vec::new();
    let mut path = "/users?limit=2&email_prefix=user".to_string();
    loop {
        let page = app.get_with_token(&path, &token).await;
        assert_eq!(page.status, 200, "{}", page.text());
        let body = page.json();
        for item in body["items"].as_array().expect("items") {
            seen.push(item["email"].as_str().expect("email").to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/users?limit=2&email_prefix=user&cursor={cursor}"),
            None => break,
        }
    }

    assert_eq!(seen.len(), 5, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "no duplicates across pages");
    let bad = app.get_with_token("/users?cursor=garbage", &token).await;
    bad.assert_problem(422, "validation-failed");
    let too_big = app.get_with_token("/users?limit=1000", &token).await;
    too_big.assert_problem(422, "validation-failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn disabling_a_user_locks_them_out_at_once() {
    let (app, admin) = TestApp::with_admin().await;
    let ada = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let ada_token = app.access_token("ada@example.com", "correct horse").await;
    let path = format!("/users/{}", ada["id"].as_str().expect("id"));

    let resp = app
        .send_json(Method::PATCH, &path, &admin, &json!({"disabled": true}))
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["disabled"], true);
    assert_eq!(
        app.get_with_token("/users/me", &ada_token).await.status,
        401,
        "existing token refused"
    );
    assert_eq!(
        app.login("ada@example.com", "correct horse").await.status,
        400
    );
    let disabled = app
        .get_with_token("/users?disabled=true", &admin)
        .await
        .json();
    assert_eq!(disabled["items"][0]["email"], "ada@example.com");
}

#[tokio::test(flavor = "multi_thread")]
async fn role_changes_apply_without_a_new_token() {
    let (app, admin) = TestApp::with_admin().await;
    let ada = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let ada_token = app.access_token("ada@example.com", "correct horse").await;
    let path = format!("/users/{}", ada["id"].as_str().expect("id"));

    app.send_json(Method::PATCH, &path, &admin, &json!({"roles": ["admin"]}))
        .await;
    let promoted = app.get_with_token("/users", &ada_token).await;
    app.send_json(Method::PATCH, &path, &admin, &json!({"roles": ["user"]}))
        .await;
    let demoted = app.get_with_token("/users", &ada_token).await;

    assert_eq!(promoted.status, 200, "roles are read from the database");
    demoted.assert_problem(403, "forbidden");
    let bad = app
        .send_json(Method::PATCH, &path, &admin, &json!({"roles": ["root"]}))
        .await;
    bad.assert_problem(422, "validation-failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn non_admins_cannot_change_or_delete_others() {
    let (app, _) = TestApp::with_admin().await;
    let ada = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    app.register("Bob", "bob@example.com", "battery staple")
        .await;
    let bob = app.access_token("bob@example.com", "battery staple").await;
    let path = format!("/users/{}", ada["id"].as_str().expect("id"));

    app.send_json(Method::PATCH, &path, &bob, &json!({"roles": ["admin"]}))
        .await
        .assert_problem(403, "forbidden");
    app.send_json(Method::DELETE, &path, &bob, &json!({}))
        .await
        .assert_problem(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_delete_users_and_their_sessions() {
    let (app, admin) = TestApp::with_admin().await;
    let ada = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let ada_token = app.access_token("ada@example.com", "correct horse").await;
    let path = format!("/users/{}", ada["id"].as_str().expect("id"));

    let resp = app
        .request(
            Method::DELETE,
            &path,
            &[("authorization", &format!("Bearer {admin}"))],
            "",
        )
        .await;

    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(
        app.get_with_token("/users/me", &ada_token).await.status,
        401
    );
    app.get_with_token(&path, &admin)
        .await
        .assert_problem(404, "not-found");
    let audit = app
        .query_db("SELECT event FROM audit_log WHERE event = 'deleted'")
        .await;
    assert_eq!(audit.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_filters_with_control_characters_are_refused() {
    let (app, token) = TestApp::with_admin().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;

    for (query, field) in [
        ("name=%00", "name"),
        ("name=Ad%0Aa", "name"),
        ("email_prefix=%07", "email_prefix"),
        ("email_prefix=ada%7F", "email_prefix"),
    ] {
        let resp = app.get_with_token(&format!("/users?{query}"), &token).await;

        let body = resp.assert_problem(422, "validation-failed");
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
    let ordinary = app.get_with_token("/users?name=Ada", &token).await;
    assert_eq!(ordinary.status, 200, "{}", ordinary.text());
    assert_eq!(ordinary.json()["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_can_squat_the_configured_admin_email_before_the_bootstrap() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_ADMIN_EMAIL", "root@example.com")
        .env("SPIN_VARIABLE_ADMIN_PASSWORD", "admin password")
        .start()
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let ada = app.access_token("ada@example.com", "correct horse").await;

    let squat = app
        .post_json(
            "/users",
            &json!({"name": "Mallory", "email": "Root@Example.com", "password": "correct horse"}),
        )
        .await;
    let moving = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &ada,
            &json!({"email": "root@example.com", "current_password": "correct horse"}),
        )
        .await;

    squat.assert_problem(409, "email-taken");
    moving.assert_problem(409, "email-taken");
    let root = app.access_token("root@example.com", "admin password").await;
    let me = app.get_with_token("/users/me", &root).await.json();
    assert_eq!(me["roles"], json!(["user", "admin"]));
    assert_eq!(me["password_change_required"], true);
}

/// The bootstrap administrator's tokens and answers until it has chosen
/// a password of its own.
async fn fresh_bootstrap() -> (TestApp, String) {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_ADMIN_EMAIL", "root@example.com")
        .env("SPIN_VARIABLE_ADMIN_PASSWORD", "admin password")
        .start()
        .await;
    let token = app.access_token("root@example.com", "admin password").await;
    (app, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_admin_must_choose_a_new_password_before_anything_else() {
    let (app, token) = fresh_bootstrap().await;

    let me = app.get_with_token("/users/me", &token).await;
    let listing = app.get_with_token("/users", &token).await;
    let export = app
        .send_json(Method::POST, "/users/me/export", &token, &json!({}))
        .await;
    let tasks = app.get_with_token("/tasks", &token).await;
    let same = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &token,
            &json!({"password": "admin password", "current_password": "admin password"}),
        )
        .await;

    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["password_change_required"], true);
    listing.assert_problem(403, "password-change-required");
    export.assert_problem(403, "password-change-required");
    tasks.assert_problem(403, "password-change-required");
    same.assert_problem(422, "validation-failed");
    assert_eq!(same.json()["errors"][0]["field"], "password");

    let chosen = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &token,
            &json!({"password": CHOSEN_ADMIN_PASSWORD, "current_password": "admin password"}),
        )
        .await;
    assert_eq!(chosen.status, 200, "{}", chosen.text());
    assert_eq!(chosen.json()["password_change_required"], false);
    let listing = app.get_with_token("/users", &token).await;
    assert_eq!(listing.status, 200, "the same token works now");
    assert_eq!(
        app.login("root@example.com", "admin password").await.status,
        400,
        "the configured password is spent"
    );
    let logout = app
        .send_json(Method::POST, "/logout?all=true", &token, &json!({}))
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_owing_a_password_may_still_sign_out() {
    let (app, token) = fresh_bootstrap().await;
    let logout = app
        .send_json(Method::POST, "/logout?all=true", &token, &json!({}))
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text());
    assert_eq!(app.get_with_token("/users/me", &token).await.status, 401);
}

/// Root (the bootstrap admin, password chosen) and Ada, promoted to admin:
/// the app, Ada's token and root's id.
async fn root_and_ada_the_admin() -> (TestApp, String, String) {
    let (app, root) = TestApp::with_admin().await;
    let root_id = app.get_with_token("/users/me", &root).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ada = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let path = format!("/users/{}", ada["id"].as_str().expect("id"));
    let promoted = app
        .send_json(
            Method::PATCH,
            &path,
            &root,
            &json!({"roles": ["user", "admin"]}),
        )
        .await;
    assert_eq!(promoted.status, 200, "{}", promoted.text());
    let ada = app.access_token("ada@example.com", "correct horse").await;
    (app, ada, root_id)
}

/// How many accounts have the configured admin address.
async fn accounts_at_root(app: &TestApp) -> Vec<Vec<Option<String>>> {
    app.query_db("SELECT count(*) FROM users WHERE email = 'root@example.com'")
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_bootstrap_admin_never_rearms_the_variables() {
    let (app, ada, root_id) = root_and_ada_the_admin().await;
    let deleted = app
        .send_json(
            Method::DELETE,
            &format!("/users/{root_id}"),
            &ada,
            &json!({}),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());

    let login = app.login("root@example.com", "admin password").await;

    assert_eq!(login.status, 400, "{}", login.text());
    assert_eq!(login.json()["error"], "invalid_grant");
    assert_eq!(accounts_at_root(&app).await, vec![vec![Some("0".into())]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn renaming_the_bootstrap_admin_never_rearms_the_variables() {
    let (app, root) = TestApp::with_admin().await;
    let moved = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &root,
            &json!({"email": "ops@example.com", "current_password": CHOSEN_ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text());

    let login = app.login("root@example.com", "admin password").await;

    assert_eq!(login.status, 400, "{}", login.text());
    assert_eq!(accounts_at_root(&app).await, vec![vec![Some("0".into())]]);
    let admins = app.get_with_token("/users?role=admin", &root).await.json();
    assert_eq!(admins["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_weak_admin_password_creates_no_administrator() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_ADMIN_EMAIL", "root@example.com")
        .env("SPIN_VARIABLE_ADMIN_PASSWORD", "short")
        .start()
        .await;

    let login = app.login("root@example.com", "short").await;

    assert_eq!(login.status, 500, "{}", login.text());
    assert!(!login.text().contains("admin_password"), "nothing leaks");
    let users = app.query_db("SELECT count(*) FROM users").await;
    assert_eq!(users, vec![vec![Some("0".to_string())]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_active_admin_cannot_be_demoted_disabled_or_deleted() {
    let (app, root) = TestApp::with_admin().await;
    let me = app.get_with_token("/users/me", &root).await.json();
    let path = format!("/users/{}", me["id"].as_str().expect("id"));

    let demote = app
        .send_json(Method::PATCH, &path, &root, &json!({"roles": ["user"]}))
        .await;
    let disable = app
        .send_json(Method::PATCH, &path, &root, &json!({"disabled": true}))
        .await;
    let delete = app
        .send_json(Method::DELETE, &path, &root, &json!({}))
        .await;
    let delete_me = app
        .send_json(
            Method::DELETE,
            "/users/me",
            &root,
            &json!({"current_password": CHOSEN_ADMIN_PASSWORD}),
        )
        .await;

    demote.assert_problem(409, "last-admin");
    disable.assert_problem(409, "last-admin");
    delete.assert_problem(409, "last-admin");
    delete_me.assert_problem(409, "last-admin");
    assert_eq!(
        app.get_with_token("/users/me", &root).await.json()["roles"],
        json!(["user", "admin"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_admins_demoting_each_other_at_once_leave_one() {
    let (app, root) = TestApp::with_admin().await;
    let app = std::sync::Arc::new(app);
    let root_id = app.get_with_token("/users/me", &root).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ada_id = app
        .register("Ada", "ada@example.com", "correct horse")
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ada = app.access_token("ada@example.com", "correct horse").await;

    for round in 0..8 {
        for (token, id) in [(&root, &ada_id), (&ada, &root_id)] {
            let promote = app
                .send_json(
                    Method::PATCH,
                    &format!("/users/{id}"),
                    token,
                    &json!({"roles": ["user", "admin"]}),
                )
                .await;
            if promote.status == 200 {
                break;
            }
        }
        let demote = |token: &str, id: &str| {
            let (app, token, path) = (app.clone(), token.to_owned(), format!("/users/{id}"));
            tokio::spawn(async move {
                app.send_json(Method::PATCH, &path, &token, &json!({"roles": ["user"]}))
                    .await
            })
        };
        let (a, b) = (demote(&root, &ada_id), demote(&ada, &root_id));
        let (a, b) = (a.await.expect("task"), b.await.expect("task"));
        let admins = app
            .query_db("SELECT count(*) FROM users WHERE roles LIKE '%admin%' AND disabled = 0")
            .await;
        assert_eq!(
            admins,
            vec![vec![Some("1".to_string())]],
            "round {round}: {} {} / {} {}",
            a.status,
            a.text(),
            b.status,
            b.text()
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert!(
            statuses == [200, 403] || statuses == [200, 409],
            "round {round}: one demotion wins, the other is refused: {statuses:?}"
        );
    }
}

/// A cached copy of an administrator that the database no longer holds
/// as one (a demotion whose cache drop has not landed yet, simulated by
/// writing the row behind the cache's back) decides nothing: the reads
/// whose answer depends on admin rights ask the database.
#[tokio::test(flavor = "multi_thread")]
async fn a_cached_administrator_is_not_trusted_with_admin_reads() {
    let (app, ada, _) = root_and_ada_the_admin().await;
    let bob = app
        .register("Bob", "bob@example.com", "correct horse")
        .await;
    let bob_token = app.access_token("bob@example.com", "correct horse").await;
    let export = app
        .request(
            Method::POST,
            "/users/me/export",
            &[("authorization", &format!("Bearer {bob_token}"))],
            "",
        )
        .await;
    assert_eq!(export.status, 202, "{}", export.text());
    let job_path = export.header("location").expect("location").to_owned();
    let bob_path = format!("/users/{}", bob["id"].as_str().expect("id"));
    assert_eq!(app.get_with_token(&job_path, &ada).await.status, 200);
    let job_id = job_path.rsplit('/').next().expect("id").to_owned();
    let listed = |tasks: &serde_json::Value| {
        tasks["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|t| t["id"] == job_id.as_str())
    };
    let tasks = app.get_with_token("/tasks", &ada).await.json();
    assert!(listed(&tasks), "an admin sees Bob's job: {tasks}");
    let private = app.get_with_token(&bob_path, &ada).await.json();
    assert!(private.get("email").is_some(), "an admin's view, cached");

    app.query_db(
        "UPDATE users SET roles = 'user', active_admin = 0 WHERE email = 'ada@example.com'",
    )
    .await;

    let tasks = app.get_with_token("/tasks", &ada).await.json();
    assert!(!listed(&tasks), "only Ada's own jobs: {tasks}");
    assert_eq!(app.get_with_token(&job_path, &ada).await.status, 404);
    let public = app.get_with_token(&bob_path, &ada).await.json();
    assert!(public.get("email").is_none(), "the public view: {public}");
    let listing = app.get_with_token("/users", &ada).await;
    listing.assert_problem(403, "forbidden");
}
