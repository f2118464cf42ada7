//! The endpoints other services call by standard: revocation (RFC 7009),
//! introspection (RFC 7662), userinfo (OpenID Connect Core §5.3) and the
//! server metadata (OpenID Connect Discovery 1.0, RFC 8414).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use serde_json::json;
use spin_users_component_tests::{TestApp, TestResponse, urlencode};

const INTROSPECTION_TOKEN: &str = "resource-server-secret-0123456789";
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

async fn app() -> TestApp {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_INTROSPECTION_TOKEN", INTROSPECTION_TOKEN)
        .start()
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    app
}

/// A login of Ada: (access token, refresh token).
async fn login(app: &TestApp) -> (String, String) {
    let body = app.login("ada@example.com", "correct horse").await.json();
    (
        body["access_token"].as_str().expect("access").to_owned(),
        body["refresh_token"].as_str().expect("refresh").to_owned(),
    )
}

fn claims(access: &str) -> serde_json::Value {
    let payload = access.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("json")
}

async fn revoke(app: &TestApp, body: &str) -> TestResponse {
    app.request(Method::POST, "/revoke", &[FORM], body.to_owned())
        .await
}

async fn introspect_as(app: &TestApp, secret: Option<&str>, token: &str) -> TestResponse {
    let bearer = secret.map(|s| format!("Bearer {s}"));
    let mut headers = vec![FORM];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    let body = format!("token={}", urlencode(token));
    app.request(Method::POST, "/introspect", &headers, body)
        .await
}

async fn introspect(app: &TestApp, token: &str) -> serde_json::Value {
    let resp = introspect_as(app, Some(INTROSPECTION_TOKEN), token).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    assert_eq!(resp.header("content-type"), Some("application/json"));
    resp.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_either_token_ends_its_session_and_anything_else_is_a_quiet_200() {
    let app = app().await;
    for kind in ["access_token", "refresh_token"] {
        let (access, refresh) = login(&app).await;
        let (other_access, other_refresh) = login(&app).await;
        assert_eq!(app.get_with_token("/users/me", &access).await.status, 200);
        let token = if kind == "access_token" {
            &access
        } else {
            &refresh
        };
        // A wrong hint is no obstacle (RFC 7009 §2.1).
        let body = format!("token={}&token_type_hint=refresh_token", urlencode(token));

        let resp = revoke(&app, &body).await;

        assert_eq!(resp.status, 200, "{kind}: {}", resp.text());
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        let me = app.get_with_token("/users/me", &access).await;
        assert_eq!(me.status, 401, "{kind}: the access half");
        let refreshed = app.refresh(&refresh).await;
        assert_eq!(refreshed.json()["error"], "invalid_grant", "{kind}");
        let other = app.get_with_token("/users/me", &other_access).await;
        assert_eq!(other.status, 200, "{kind}: the other session");
        assert_eq!(app.refresh(&other_refresh).await.status, 200, "{kind}");
        assert_eq!(revoke(&app, &body).await.status, 200, "{kind}: again");
    }
    let garbage = format!("token={}", urlencode(&"x.y.z".repeat(2000)));
    for body in ["token=unknown", "token=a.b.c", garbage.as_str()] {
        assert_eq!(revoke(&app, body).await.status, 200, "{body:.40}");
    }
    for body in ["", "token=", "token_type_hint=access_token"] {
        let resp = revoke(&app, body).await;
        assert_eq!(resp.status, 400, "{body:?}");
        assert_eq!(resp.json()["error"], "invalid_request");
    }
    let repeated = revoke(&app, "token=a&token=b").await;
    assert_eq!(repeated.json()["error"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_reports_live_tokens_and_exactly_inactive_for_the_rest() {
    let app = app().await;
    let (access, refresh) = login(&app).await;
    let jwt = claims(&access);

    let a = introspect(&app, &access).await;
    assert_eq!(a["active"], true);
    assert_eq!(a["token_type"], "access_token");
    for claim in ["sub", "exp", "iat", "iss", "aud", "sid", "jti"] {
        assert_eq!(a[claim], jwt[claim], "{claim}");
    }
    assert_eq!(a["roles"], json!(["user"]));

    let r = introspect(&app, &refresh).await;
    assert_eq!(r["active"], true);
    assert_eq!(r["token_type"], "refresh_token");
    assert_eq!(r["sub"], jwt["sub"]);
    assert_eq!(r["sid"], jwt["sid"]);
    assert!(r["exp"].as_i64().expect("exp") > jwt["exp"].as_i64().expect("exp"));

    // Rotated, revoked, malformed, foreign: exactly {"active": false}.
    let next = app.refresh(&refresh).await.json();
    let next_refresh = next["refresh_token"].as_str().expect("refresh");
    let mut forged = access.clone();
    forged.pop();
    forged.push(if access.ends_with('A') { 'B' } else { 'A' });
    let inactive = [
        refresh.clone(),
        forged,
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        format!("{}.e30.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#)),
    ];
    for token in &inactive {
        assert_eq!(
            introspect(&app, token).await,
            json!({"active": false}),
            "{token}"
        );
    }
    let logout = format!("refresh_token={}", urlencode(next_refresh));
    let out = app.request(Method::POST, "/logout", &[FORM], logout).await;
    assert_eq!(out.status, 204);
    for token in [&access, &next_refresh.to_owned()] {
        assert_eq!(introspect(&app, token).await, json!({"active": false}));
    }

    let metrics = app.get("/metrics").await.text();
    for series in [
        "spin_users_introspections_total{active=\"true\",token_type=\"access_token\"} 1",
        "spin_users_introspections_total{active=\"true\",token_type=\"refresh_token\"} 1",
        "spin_users_introspections_total{active=\"false\",token_type=\"\"} 7",
        "spin_users_sessions_ended_total{reason=\"logout\"} 1",
    ] {
        assert!(metrics.contains(series), "{series} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_is_refused_without_the_resource_servers_secret() {
    let app = app().await;
    let (access, _) = login(&app).await;
    for secret in [None, Some("wrong"), Some("")] {
        let resp = introspect_as(&app, secret, &access).await;
        resp.assert_problem(401, "unauthorized");
    }
    let unset = TestApp::spin_users().start().await;
    let resp = introspect_as(&unset, Some(""), "token").await;
    resp.assert_problem(401, "unauthorized");
    let resp = introspect_as(&unset, Some("anything"), "token").await;
    resp.assert_problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn userinfo_answers_the_owners_claims_and_refuses_a_dead_token() {
    let app = app().await;
    let (access, refresh) = login(&app).await;
    let sub = claims(&access)["sub"].clone();

    for method in [Method::GET, Method::POST] {
        let bearer = format!("Bearer {access}");
        let resp = app
            .request(
                method.clone(),
                "/userinfo",
                &[("authorization", &bearer)],
                "",
            )
            .await;
        assert_eq!(resp.status, 200, "{method}: {}", resp.text());
        let info = resp.json();
        assert_eq!(info["sub"], sub);
        assert_eq!(info["name"], "Ada");
        assert_eq!(info["email"], "ada@example.com");
        assert_eq!(info["email_verified"], false);
        assert!(info["updated_at"].is_i64(), "{info}");
        assert_eq!(resp.header("cache-control"), Some("no-store"));
    }

    let logout = format!("refresh_token={}", urlencode(&refresh));
    app.request(Method::POST, "/logout", &[FORM], logout).await;
    let dead = app.get_with_token("/userinfo", &access).await;
    let missing = app.get("/userinfo").await;
    for resp in [dead, missing] {
        resp.assert_problem(401, "unauthorized");
        assert_eq!(
            resp.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_metadata_names_what_exists_at_absolute_urls() {
    let app = app().await;
    let (access, _) = login(&app).await;
    let discovery = app.get("/.well-known/openid-configuration").await;
    assert_eq!(discovery.status, 200, "{}", discovery.text());
    let rfc8414 = app.get("/.well-known/oauth-authorization-server").await;
    let meta = discovery.json();
    assert_eq!(rfc8414.json(), meta, "one document at both addresses");

    assert_eq!(meta["issuer"], claims(&access)["iss"]);
    let jwks_uri = meta["jwks_uri"].as_str().expect("jwks_uri");
    let (origin, path) = jwks_uri.split_at(jwks_uri.find("/.well-known").expect("path"));
    assert!(origin.starts_with("http://"), "absolute: {jwks_uri}");
    assert_eq!(app.get(path).await.status, 200, "{path}");
    for (field, path) in [
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
    ] {
        assert_eq!(meta[field], format!("{origin}{path}"), "{field}");
    }
    assert_eq!(
        meta["grant_types_supported"],
        json!([
            "password",
            "refresh_token",
            "urn:spin-users:grant-type:mfa",
            "urn:spin-users:grant-type:passkey"
        ])
    );
    assert_eq!(
        meta["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!(["none"])
    );
    assert!(
        meta["claims_supported"]
            .as_array()
            .expect("claims")
            .contains(&json!("sid"))
    );
    assert!(meta.get("authorization_endpoint").is_none(), "none exists");

    let behind_proxy = TestApp::spin_users()
        .env("SPIN_VARIABLE_PUBLIC_URL", "https://auth.example.com/")
        .env("SPIN_VARIABLE_TOKEN_ISSUER", "https://auth.example.com")
        .start()
        .await;
    let meta = behind_proxy
        .get("/.well-known/openid-configuration")
        .await
        .json();
    assert_eq!(meta["issuer"], "https://auth.example.com");
    assert_eq!(
        meta["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
    assert_eq!(meta["token_endpoint"], "https://auth.example.com/token");
}
