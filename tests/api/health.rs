//! The `health` component: `GET /`, `/healthz`, `/readyz`.

use http::Method;
use spin_users_component_tests::{Backend, TestApp, backend, concurrently};

#[tokio::test(flavor = "multi_thread")]
async fn root_returns_the_service_name_and_version() {
    let app = TestApp::spin_users().start().await;

    let resp = app.get("/").await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let body = resp.json();
    assert_eq!(body["name"], "spin-users");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test(flavor = "multi_thread")]
async fn root_reports_the_service_name_variable_when_set() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_SERVICE_NAME", "acme-accounts")
        .start()
        .await;

    let resp = app.get("/").await;

    assert_eq!(resp.json()["name"], "acme-accounts");
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_returns_200_with_status_ok() {
    let app = TestApp::spin_users().start().await;

    let resp = app.get("/healthz").await;

    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), serde_json::json!({"status": "ok"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_returns_200_when_database_and_key_value_answer() {
    let app = TestApp::spin_users().start().await;

    let resp = app.get("/readyz").await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert_eq!(body["checks"]["key_value"]["status"], "up");
    if backend() == Backend::Sqlite {
        assert!(
            app.dir.path().join("sqlite.db").exists(),
            "readyz opened the real database file"
        );
    }
    if !spin_users_component_tests::service_kv_on_redis() {
        assert!(
            app.dir.path().join("kv.db").exists(),
            "readyz opened the real key-value file"
        );
    }
}

/// A runtime config whose key-value store sits below a regular file: Spin
/// starts (it creates that directory only when nothing is there) and every
/// open fails.
fn key_value_below_a_file(dir: &std::path::Path) -> String {
    std::fs::write(dir.join("blocker"), b"not a directory").expect("write blocker");
    format!(
        "[key_value_store.default]\ntype = \"spin\"\npath = {kv:?}\n\
         [sqlite_database.default]\ntype = \"spin\"\npath = {db:?}\n",
        kv = dir.join("blocker/kv.db"),
        db = dir.join("sqlite.db"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_returns_503_problem_when_the_key_value_store_is_unavailable() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let app = TestApp::spin_users()
        .cache_in_key_value_store()
        .runtime_config(&key_value_below_a_file(scratch.path()))
        .start()
        .await;

    let resp = app.get("/readyz").await;

    let body = resp.assert_problem(503, "not-ready");
    assert_eq!(body["checks"]["key_value"]["status"], "down");
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert!(
        !resp.text().contains("blocker"),
        "no internal path leaks: {}",
        resp.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_returns_503_problem_when_the_database_is_unavailable() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let database_dir = scratch.path().join("db");
    let app = match backend() {
        // Spin creates a SQLite database's directory at start-up and opens
        // the file afresh on every `open`: the directory is replaced by a
        // file once the app runs, so every later open fails.
        Backend::Sqlite => TestApp::spin_users().runtime_config(&format!(
            "[key_value_store.default]\ntype = \"spin\"\npath = {kv:?}\n\
             [sqlite_database.default]\ntype = \"spin\"\npath = {db:?}\n",
            kv = scratch.path().join("kv.db"),
            db = database_dir.join("sqlite.db"),
        )),
        // Nothing listens on port 1: the connection is refused.
        Backend::Postgres => TestApp::spin_users()
            .env("SPIN_VARIABLE_DATABASE_HOST", "127.0.0.1:1")
            .env(
                "SPIN_VARIABLE_DATABASE_URL",
                "postgres://nobody@127.0.0.1:1/none",
            ),
    }
    .start()
    .await;
    if backend() == Backend::Sqlite {
        std::fs::remove_dir_all(&database_dir).expect("remove the database directory");
        std::fs::write(&database_dir, b"not a directory").expect("block it");
    }

    let resp = app.get("/readyz").await;

    let body = resp.assert_problem(503, "not-ready");
    assert_eq!(body["checks"]["database"]["status"], "down");
    assert_eq!(body["checks"]["key_value"]["status"], "up");
    assert_eq!(resp.header("cache-control"), Some("no-store"));
}

#[tokio::test(flavor = "multi_thread")]
async fn health_routes_return_405_with_allow_for_other_methods() {
    let app = TestApp::spin_users().start().await;
    for path in ["/", "/healthz", "/readyz"] {
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let resp = app.request(method.clone(), path, &[], "x").await;

            resp.assert_problem(405, "method-not-allowed");
            assert_eq!(resp.header("allow"), Some("GET, HEAD"), "{method} {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unrouted_path_gets_spins_empty_404() {
    let app = TestApp::spin_users().start().await;

    let resp = app.get("/no/such/route").await;

    assert_eq!(resp.status, 404);
    assert!(resp.body.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn spins_well_known_health_path_answers_ok() {
    let app = TestApp::spin_users().start().await;

    let resp = app.get("/.well-known/spin/health").await;

    assert_eq!((resp.status, resp.text().as_str()), (200, "OK"));
}

#[tokio::test(flavor = "multi_thread")]
async fn many_concurrent_readiness_checks_all_succeed() {
    let app = std::sync::Arc::new(TestApp::spin_users().start().await);
    let statuses = concurrently(
        &app,
        48,
        |app, _| async move { app.get("/readyz").await.status },
    )
    .await;

    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_health_component_imports_only_what_it_uses() {
    let app = TestApp::spin_users().start().await;

    let imports = app
        .host()
        .component_imports("health")
        .expect("health is loaded");

    for needed in [
        "fermyon:spin/key-value@2.0.0",
        "fermyon:spin/sqlite@2.0.0",
        "fermyon:spin/postgres@2.0.0",
        "fermyon:spin/variables@2.0.0",
    ] {
        assert!(
            imports.iter().any(|i| i == needed),
            "imports {needed}: {imports:?}"
        );
    }
    for unused in ["mysql", "redis", "llm", "mqtt", "outgoing-handler"] {
        assert!(
            !imports.iter().any(|i| i.contains(unused)),
            "does not import {unused}: {imports:?}"
        );
    }
}
