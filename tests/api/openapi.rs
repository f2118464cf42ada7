//! `GET /openapi.json`: an OpenAPI 3.1 document that agrees, both ways,
//! with the routes `spin.toml` declares and the methods each component's
//! route table answers.

use std::collections::BTreeSet;

use http::Method;
use spin_users_component_tests::{TestApp, workspace_root};
use spin_users_host::{Manifest, Router};

/// A documented path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-4000-8000-000000000000")
        .replace("{file}", "init.js")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_and_the_served_routes_agree_both_ways() {
    let app = TestApp::spin_users().start().await;
    let served = app.get("/openapi.json").await;
    assert_eq!(served.status, 200);
    assert_eq!(served.header("content-type"), Some("application/json"));
    let doc = served.json();
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    let manifest = Manifest::from_file(&workspace_root().join("spin.toml")).expect("spin.toml");
    let router = Router::build(&manifest.http_triggers).expect("routes");
    let paths = doc["paths"].as_object().expect("paths");

    // Documented → served: spin.toml routes every path to a component whose
    // table answers exactly the documented methods (405's Allow comes from
    // that table; PUT is no route's method).
    for (path, operations) in paths {
        let url = concrete(path);
        assert!(router.route(&url).is_some(), "spin.toml routes {path}");
        let documented: BTreeSet<String> = operations
            .as_object()
            .expect("operations")
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        let probe = app.request(Method::PUT, &url, &[], "").await;
        assert_eq!(probe.status, 405, "{path}: {}", probe.text());
        let allowed: BTreeSet<String> = probe
            .header("allow")
            .unwrap_or_default()
            .split(", ")
            .filter(|m| *m != "HEAD")
            .map(str::to_owned)
            .collect();
        assert_eq!(allowed, documented, "{path}: served vs documented methods");
    }

    // Served → documented: every route spin.toml declares is in the
    // document, a wildcard by the paths beneath it.
    for trigger in &manifest.http_triggers {
        let route = trigger.route.to_string();
        let documented = match route.strip_suffix("/...") {
            Some(prefix) => paths.keys().any(|p| p.starts_with(&format!("{prefix}/"))),
            None => paths.contains_key(&route),
        };
        assert!(documented, "{route} ({}) is documented", trigger.component);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_bodies_are_what_is_sent() {
    let app = TestApp::spin_users().start().await;
    let doc = app.get("/openapi.json").await.json();
    let schemas = &doc["components"]["schemas"];
    let properties = |name: &str| -> BTreeSet<String> {
        schemas[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has properties"))
            .keys()
            .cloned()
            .collect()
    };

    let registered = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let login = app.login("ada@example.com", "correct horse").await.json();
    let problem = app.get("/users/me").await.json();

    let keys = |v: &serde_json::Value| -> BTreeSet<String> {
        v.as_object().expect("object").keys().cloned().collect()
    };
    assert_eq!(keys(&registered), properties("PrivateView"));
    assert_eq!(keys(&login), properties("TokenResponse"));
    assert!(
        keys(&problem).is_subset(&properties("ProblemDetails")),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_is_served_from_this_origin_over_the_document() {
    let app = TestApp::spin_users().start().await;

    let page = app.get("/docs").await;
    let init = app.get("/docs/init.js").await;
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    let css = app.get("/docs/swagger-ui.css").await;
    let unknown = app.get("/docs/../spin.toml").await;

    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text();
    for asset in [
        "/docs/swagger-ui.css",
        "/docs/swagger-ui-bundle.js",
        "/docs/init.js",
    ] {
        assert!(html.contains(asset), "the page loads {asset}");
        assert!(!html.contains("http"), "no CDN: {html}");
    }
    assert!(init.text().contains("url: \"/openapi.json\""));
    assert_eq!(
        bundle.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(bundle.body.len() > 1_000_000, "the whole bundle");
    assert!(String::from_utf8_lossy(&bundle.body).contains("SwaggerUIBundle"));
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(unknown.status, 404);

    // Every file the document lists is served, as one of its content types.
    let doc = app.get("/openapi.json").await.json();
    let files = doc["components"]["schemas"]["SwaggerUiFile"]["enum"]
        .as_array()
        .expect("the files are listed")
        .clone();
    let types = doc["paths"]["/docs/{file}"]["get"]["responses"]["200"]["content"].clone();
    for file in files {
        let file = file.as_str().expect("a name");
        let served = app.get(&format!("/docs/{file}")).await;
        assert_eq!(served.status, 200, "{file}");
        let content_type = served.header("content-type").unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default();
        assert!(types.get(essence).is_some(), "{file}: {content_type}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_flow_as_swagger_ui_sends_it_gets_tokens() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;

    // Swagger UI's "Authorize" for an OAuth2 password flow: a form with an
    // empty scope, and the XHR marker header.
    let token = app
        .request(
            Method::POST,
            "/token",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-requested-with", "XMLHttpRequest"),
                ("accept", "application/json, text/plain, */*"),
            ],
            "grant_type=password&username=ada%40example.com&password=correct%20horse&scope=",
        )
        .await;

    assert_eq!(token.status, 200, "{}", token.text());
    let access = token.json()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(app.get_with_token("/users/me", &access).await.status, 200);
}
