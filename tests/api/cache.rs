//! Read-through caching of users and conditional requests.

use http::Method;
use serde_json::json;
use spin_users_component_tests::TestApp;

async fn ada(app: &TestApp) -> String {
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    app.access_token("ada@example.com", "correct horse").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_read_does_not_touch_the_database() {
    let app = TestApp::spin_users().start().await;
    let token = ada(&app).await;
    assert_eq!(
        app.get_with_token("/users/me", &token).await.status,
        200,
        "warms the cache"
    );

    // Sabotage: without the users table, any database read of a user fails.
    app.query_db("DROP TABLE users").await;
    let cached = app.get_with_token("/users/me", &token).await;
    let uncached = app.login("ada@example.com", "correct horse").await;

    assert_eq!(cached.status, 200, "{}", cached.text());
    assert_eq!(cached.json()["email"], "ada@example.com");
    assert_eq!(
        uncached.status,
        500,
        "the database really is broken: {}",
        uncached.text()
    );
    assert!(
        !uncached.text().contains("users"),
        "no SQL in the error: {}",
        uncached.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_invalidate_the_cached_user() {
    let app = TestApp::spin_users().start().await;
    let token = ada(&app).await;
    app.get_with_token("/users/me", &token).await;

    app.send_json(
        Method::PATCH,
        "/users/me",
        &token,
        &json!({"name": "Ada L."}),
    )
    .await;

    assert_eq!(
        app.get_with_token("/users/me", &token).await.json()["name"],
        "Ada L."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_user_is_never_served_from_the_cache() {
    let (app, admin) = TestApp::with_admin().await;
    let token = ada(&app).await;
    let me = app.get_with_token("/users/me", &token).await.json();
    let path = format!("/users/{}", me["id"].as_str().expect("id"));
    assert_eq!(
        app.get_with_token(&path, &admin).await.status,
        200,
        "cached for the admin too"
    );

    app.send_json(Method::PATCH, &path, &admin, &json!({"disabled": true}))
        .await;

    assert_eq!(app.get_with_token("/users/me", &token).await.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn etags_answer_304_until_the_user_changes() {
    let app = TestApp::spin_users().start().await;
    let token = ada(&app).await;
    let first = app.get_with_token("/users/me", &token).await;
    let etag = first.header("etag").expect("ETag").to_owned();
    let auth = format!("Bearer {token}");

    let unchanged = app
        .request(
            Method::GET,
            "/users/me",
            &[("authorization", &auth), ("if-none-match", &etag)],
            "",
        )
        .await;
    app.send_json(
        Method::PATCH,
        "/users/me",
        &token,
        &json!({"name": "Ada L."}),
    )
    .await;
    let changed = app
        .request(
            Method::GET,
            "/users/me",
            &[("authorization", &auth), ("if-none-match", &etag)],
            "",
        )
        .await;

    assert_eq!(unchanged.status, 304);
    assert!(unchanged.body.is_empty());
    assert_eq!(unchanged.header("etag"), Some(etag.as_str()));
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
}

/// The largest account validation allows: 100 four-byte characters of name
/// and a 315-byte email.
async fn largest_account(app: &TestApp) -> (String, String) {
    let name = "𝔄".repeat(100);
    let email = format!(
        "{}@{}.{}.{}.{}.com",
        "a".repeat(64),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(63),
        "e".repeat(54)
    );
    let created = app.register(&name, &email, "correct horse").await;
    let id = created["id"].as_str().expect("registered").to_owned();
    (id, app.access_token(&email, "correct horse").await)
}

/// A route that grows its memory does so on every request, which under the
/// pooling allocator costs more than the rest of a cached read (see
/// `.cargo/config.toml`), so cached reads must fit the initial memory, even
/// for the largest account.
#[tokio::test(flavor = "multi_thread")]
async fn cached_reads_fit_the_components_initial_memory() {
    let (app, admin) = TestApp::with_admin().await;
    let (largest, token) = largest_account(&app).await;
    let other = ada(&app).await;
    let other_id = app.get_with_token("/users/me", &other).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let reads = [
        ("/users/me".to_owned(), &token),
        (format!("/users/{other_id}"), &token),
        (format!("/users/{largest}"), &admin),
        (format!("/users/{largest}"), &other),
    ];
    for (path, token) in &reads {
        assert_eq!(
            app.get_with_token(path, token).await.status,
            200,
            "warms {path}"
        );
    }

    let before = app.host().memory_growths("users").expect("users component");
    for (path, token) in &reads {
        assert_eq!(app.get_with_token(path, token).await.status, 200, "{path}");
    }
    let grown = app.host().memory_growths("users").expect("users component") - before;

    assert_eq!(grown, 0, "cached reads grew the memory {grown} times");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_etag_moves_only_when_the_public_view_does() {
    // Arrange: Ada's public view as Bob sees it, and its tag.
    let app = TestApp::spin_users().start().await;
    let ada_token = ada(&app).await;
    let ada_id = app.get_with_token("/users/me", &ada_token).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.register("Bob", "bob@example.com", "correct horse")
        .await;
    let bob = app.access_token("bob@example.com", "correct horse").await;
    let path = format!("/users/{ada_id}");
    let public = app.get_with_token(&path, &bob).await;
    let etag = public.header("etag").expect("ETag").to_owned();
    let bob_auth = format!("Bearer {bob}");
    let conditional = [
        ("authorization", bob_auth.as_str()),
        ("if-none-match", etag.as_str()),
    ];
    let revalidate = || app.request(Method::GET, &path, &conditional, "");

    // Act: Ada changes her password (not in the public view), then her name.
    let password_change = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &ada_token,
            &json!({"current_password": "correct horse", "password": "a new password"}),
        )
        .await;
    let after_password = revalidate().await;
    let ada_token = app.access_token("ada@example.com", "a new password").await;
    app.send_json(
        Method::PATCH,
        "/users/me",
        &ada_token,
        &json!({"name": "Ada L."}),
    )
    .await;
    let after_name = revalidate().await;

    // Assert: the tag told Bob nothing about the password change.
    assert_eq!(password_change.status, 200, "{}", password_change.text());
    assert_eq!(
        public.json().as_object().map(|o| o.len()),
        Some(2),
        "{{id, name}}"
    );
    assert_eq!(after_password.status, 304, "{}", after_password.text());
    assert_eq!(after_password.header("etag"), Some(etag.as_str()));
    assert_eq!(after_name.status, 200);
    assert_ne!(after_name.header("etag"), Some(etag.as_str()));
}

/// A "Redis" that accepts connections and never answers, as a server that
/// hangs (or a network that drops its packets) looks to a client.
async fn silent_redis() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    (address, held)
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_and_login_never_wait_on_a_hung_cache() {
    let (redis, _held) = silent_redis().await;
    let app = TestApp::spin_users()
        .cache_in_key_value_store()
        .runtime_config(&format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://{redis}\"\n\
             [sqlite_database.default]\ntype = \"spin\"\npath = \"sqlite.db\"\n"
        ))
        .start()
        .await;
    let bounded = std::time::Duration::from_secs(5);

    let registered = tokio::time::timeout(
        bounded,
        app.post_json(
            "/users",
            &json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse"}),
        ),
    )
    .await
    .expect("registration waited on the cache");
    let login = tokio::time::timeout(bounded, app.login("ada@example.com", "correct horse"))
        .await
        .expect("login waited on the cache");

    assert_eq!(registered.status, 201, "{}", registered.text());
    assert_eq!(login.status, 200, "{}", login.text());
}
