//! CORS: preflights answered from the routing table, allowed origins
//! echoed on every answer (errors included), others refused, and nothing at
//! all when `cors_allowed_origins` is empty (the default).

use http::Method;
use spin_users_component_tests::{TestApp, TestResponse};

const ALLOWED: &str = "https://app.example.com";

async fn app_allowing(origins: &str) -> TestApp {
    TestApp::spin_users()
        .env("SPIN_VARIABLE_CORS_ALLOWED_ORIGINS", origins)
        .start()
        .await
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> TestResponse {
    app.request(
        Method::OPTIONS,
        path,
        &[
            ("origin", origin),
            ("access-control-request-method", method),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ],
        "",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preflight_from_an_allowed_origin_names_the_routes_methods_and_headers() {
    let app = app_allowing(&format!("{ALLOWED}, http://localhost:5173")).await;

    let me = preflight(&app, "/users/me", ALLOWED, "PATCH").await;
    let token = preflight(&app, "/token", "http://localhost:5173", "POST").await;

    assert_eq!(me.status, 204, "{}", me.text());
    assert_eq!(me.header("access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(
        me.header("access-control-allow-methods"),
        Some("GET, HEAD, PATCH, DELETE")
    );
    let headers = me
        .header("access-control-allow-headers")
        .unwrap_or_default();
    for needed in [
        "authorization",
        "content-type",
        "if-match",
        "if-none-match",
        "idempotency-key",
    ] {
        assert!(headers.contains(needed), "{needed} in {headers}");
    }
    assert!(me.header("access-control-max-age").is_some());
    assert!(me.header("vary").unwrap_or_default().contains("origin"));
    assert_eq!(
        me.header("access-control-allow-credentials"),
        None,
        "tokens, not cookies"
    );
    assert_eq!(token.status, 204);
    assert_eq!(
        token.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(token.header("access-control-allow-methods"), Some("POST"));
}

#[tokio::test(flavor = "multi_thread")]
async fn other_origins_are_refused_and_get_no_cors_headers() {
    let app = app_allowing(ALLOWED).await;

    let refused = preflight(&app, "/users/me", "https://evil.example.com", "GET").await;
    let lookalike = preflight(&app, "/users/me", "https://app.example.com.evil.com", "GET").await;
    let actual = app
        .request(
            Method::GET,
            "/",
            &[("origin", "https://evil.example.com")],
            "",
        )
        .await;

    refused.assert_problem(403, "origin-not-allowed");
    assert_eq!(refused.header("access-control-allow-origin"), None);
    lookalike.assert_problem(403, "origin-not-allowed");
    assert_eq!(
        actual.status, 200,
        "the server still answers; the browser refuses"
    );
    assert_eq!(actual.header("access-control-allow-origin"), None);
    assert_eq!(actual.header("access-control-expose-headers"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_to_an_allowed_origin_carry_the_cors_headers_errors_included() {
    let app = app_allowing(ALLOWED).await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let token = app.access_token("ada@example.com", "correct horse").await;
    let bearer = format!("Bearer {token}");

    let me = app
        .request(
            Method::GET,
            "/users/me",
            &[("origin", ALLOWED), ("authorization", &bearer)],
            "",
        )
        .await;
    let unauthorized = app
        .request(Method::GET, "/users/me", &[("origin", ALLOWED)], "")
        .await;
    let too_large = app
        .request(
            Method::POST,
            "/users",
            &[("origin", ALLOWED), ("content-type", "application/json")],
            vec![b' '; 64 * 1024],
        )
        .await;
    let no_origin = app.get_with_token("/users/me", &token).await;

    assert_eq!(me.status, 200);
    assert_eq!(me.header("access-control-allow-origin"), Some(ALLOWED));
    let exposed = me
        .header("access-control-expose-headers")
        .unwrap_or_default();
    for needed in [
        "etag",
        "location",
        "ratelimit",
        "ratelimit-policy",
        "retry-after",
    ] {
        assert!(exposed.contains(needed), "{needed} in {exposed}");
    }
    assert!(me.header("vary").unwrap_or_default().contains("origin"));
    unauthorized.assert_problem(401, "unauthorized");
    assert_eq!(
        unauthorized.header("access-control-allow-origin"),
        Some(ALLOWED)
    );
    too_large.assert_problem(413, "payload-too-large");
    assert_eq!(
        too_large.header("access-control-allow-origin"),
        Some(ALLOWED)
    );
    assert_eq!(no_origin.status, 200);
    assert_eq!(no_origin.header("access-control-allow-origin"), None);
    assert_eq!(
        no_origin.header("vary"),
        Some("origin"),
        "caches keep origins apart"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn by_default_no_origin_is_allowed() {
    let app = TestApp::spin_users().start().await;

    let refused = preflight(&app, "/users", ALLOWED, "POST").await;
    let actual = app
        .request(Method::GET, "/healthz", &[("origin", ALLOWED)], "")
        .await;
    let options = app.request(Method::OPTIONS, "/users", &[], "").await;

    refused.assert_problem(403, "origin-not-allowed");
    assert_eq!(actual.status, 200);
    assert_eq!(actual.header("access-control-allow-origin"), None);
    let allow = options.assert_problem(405, "method-not-allowed");
    assert!(
        allow["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("POST")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_star_allows_any_origin_without_credentials() {
    let app = app_allowing("*").await;

    let answer = app
        .request(
            Method::GET,
            "/",
            &[("origin", "https://anyone.example")],
            "",
        )
        .await;

    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(answer.header("access-control-allow-credentials"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_origin_list_fails_loudly_for_browser_requests_only() {
    let app = app_allowing("app.example.com").await;

    let browser = app
        .request(Method::GET, "/", &[("origin", ALLOWED)], "")
        .await;
    let api_client = app.get("/").await;

    browser.assert_problem(500, "internal");
    assert_eq!(api_client.status, 200);
}
