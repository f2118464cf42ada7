//! Spin's routing rules and request headers, through the probe fixture app
//! (`tests/fixtures/probe/spin.toml`), whose echo routes report what the host sent.

use http::Method;
use spin_users_component_tests::{CLIENT_ADDR, TestApp, server_program};

async fn matched_route(app: &TestApp, path: &str) -> String {
    let resp = app.get(path).await;
    assert_eq!(resp.status, 200, "{path}: {}", resp.text());
    resp.json()["headers"]["spin-matched-route"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no spin-matched-route"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exact_route_wins_over_a_wildcard_covering_it() {
    let app = TestApp::probe().start().await;

    assert_eq!(
        matched_route(&app, "/static/special").await,
        "/static/special"
    );
    assert_eq!(matched_route(&app, "/static/other").await, "/static/...");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_longest_wildcard_prefix_wins() {
    let app = TestApp::probe().start().await;

    assert_eq!(matched_route(&app, "/api/users/7").await, "/api/users/...");
    assert_eq!(matched_route(&app, "/api/tasks/7").await, "/api/...");
}

#[tokio::test(flavor = "multi_thread")]
async fn named_segments_arrive_as_path_match_headers() {
    let app = TestApp::probe().start().await;

    let resp = app.get("/users/42").await;

    let headers = &resp.json()["headers"];
    assert_eq!(headers["spin-path-match-id"], "42");
    assert_eq!(headers["spin-matched-route"], "/users/:id");
    assert_eq!(
        app.get("/users/42/more").await.status,
        404,
        "one segment only"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_carry_every_header_spin_sets() {
    let app = TestApp::probe().start().await;

    let resp = app.get("/static/a/b?x=1").await;

    let h = &resp.json()["headers"];
    let expected = [
        ("spin-full-url", "http://localhost:3000/static/a/b?x=1"),
        ("spin-path-info", "/a/b"),
        ("spin-matched-route", "/static/..."),
        ("spin-raw-component-route", "/static/..."),
        ("spin-component-route", "/static"),
        ("spin-base-path", "/"),
    ];
    for (name, value) in expected {
        assert_eq!(h[name], value, "header {name}");
    }
    // The peer's address: fixed in-process, an ephemeral port over TCP.
    let client = h["spin-client-addr"].as_str().expect("spin-client-addr");
    match server_program() {
        None => assert_eq!(client, CLIENT_ADDR),
        Some(_) => assert!(client.starts_with("127.0.0.1:"), "{client}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_route_is_unreachable_from_outside() {
    let app = TestApp::probe().start().await;

    // `hidden` is only behind `{ private = true }`: no path reaches it.
    for path in ["/hidden", "/private", "/"] {
        let resp = app.get(path).await;
        assert_eq!(resp.status, 404, "{path}");
        assert!(resp.body.is_empty(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_under_spins_reserved_prefix_are_answered_by_the_host() {
    let app = TestApp::probe().start().await;

    let info = app.get("/.well-known/spin/info").await;
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["name"], "probe");
    assert_eq!(app.get("/.well-known/spin/other").await.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn head_is_answered_as_get_without_a_body_on_every_get_route() {
    let (app, root) = TestApp::with_admin().await;
    let me = app.get_with_token("/users/me", &root).await.json();
    let id = me["id"].as_str().expect("id");
    let auth = format!("Bearer {root}");
    for path in [
        "/".to_string(),
        "/healthz".into(),
        "/readyz".into(),
        "/.well-known/jwks.json".into(),
        "/users/me".into(),
        "/users".into(),
        format!("/users/{id}"),
    ] {
        let headers = [("authorization", auth.as_str())];
        let get = app.request(Method::GET, &path, &headers, "").await;
        let head = app.request(Method::HEAD, &path, &headers, "").await;

        assert_eq!(head.status, get.status, "{path}");
        assert_eq!(get.status, 200, "{path}: {}", get.text());
        assert!(head.body.is_empty(), "{path}: a HEAD answer has no body");
        for name in ["content-type", "etag", "cache-control"] {
            assert_eq!(head.header(name), get.header(name), "{path}: {name}");
        }
    }
    let token = app.request(Method::HEAD, "/token", &[], "").await;
    assert_eq!(token.status, 405);
    assert_eq!(token.header("allow"), Some("POST"));
}
