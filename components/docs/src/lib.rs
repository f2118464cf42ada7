//! The `docs` component: the OpenAPI 3.1 document (`GET /openapi.json`),
//! built from the same Rust types the other components send, and Swagger
//! UI over it (`GET /docs`), served from this component: the pinned
//! swagger-ui-dist release `scripts/swagger-ui.sh` fetches is compiled in.
//! It also serves the account pages mailed links open (`GET /verify-email`,
//! `GET /reset-password`, `GET /confirm-email`): a form each, which spends its token only when
//! submitted, through the API; and the sign-in page (`GET /sign-in`: a
//! password or a passkey, and adding passkeys). It holds no data and no
//! secret.

use spin_sdk::http::{IncomingRequest, Method, Request, Response, ResponseOutparam};
use spin_sdk::http_component;
use spin_users_api::openapi_json;
use spin_users_http::{ApiError, Params, Route, dispatch, route, serve};

/// The component's routes.
const ROUTES: &[Route] = &[
    route(Method::Get, "/openapi.json", document),
    route(Method::Get, "/docs", page),
    route(Method::Get, "/docs/:file", asset),
    route(Method::Get, "/verify-email", verify_email_page),
    route(Method::Get, "/reset-password", reset_password_page),
    route(Method::Get, "/confirm-email", confirm_email_page),
    route(Method::Get, "/sign-in", sign_in_page),
];

/// Swagger UI's files, by name under `/docs/`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../target/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../target/swagger-ui/swagger-ui.css"),
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("init.js"),
    ),
    (
        "account.js",
        "text/javascript; charset=utf-8",
        include_bytes!("pages/account.js"),
    ),
    (
        "sign-in.js",
        "text/javascript; charset=utf-8",
        include_bytes!("pages/sign-in.js"),
    ),
    (
        "account.css",
        "text/css; charset=utf-8",
        include_bytes!("pages/account.css"),
    ),
    (
        "LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../../target/swagger-ui/LICENSE"),
    ),
];

/// Scripts and styles from this origin only (Swagger UI sets inline
/// styles); the page cannot be framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; \
     frame-ancestors 'none'";

#[http_component]
async fn handle(incoming: IncomingRequest, outparam: ResponseOutparam) {
    serve(incoming, outparam, |req| dispatch(ROUTES, req)).await
}

/// `GET /openapi.json`.
fn document(_: &Request, _: &Params) -> Result<Response, ApiError> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "public, max-age=300")
        .body(openapi_json())
        .build())
}

/// `GET /docs`: Swagger UI's page.
fn page(_: &Request, _: &Params) -> Result<Response, ApiError> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/html; charset=utf-8")
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-content-type-options", "nosniff")
        .header("cache-control", "public, max-age=300")
        .body(include_str!("index.html"))
        .build())
}

/// The account pages: this origin's script and style only, no framing, no
/// inline code, and the token in their address never sent on as a
/// `Referer` or kept by a cache.
const ACCOUNT_PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn account_page(html: &'static str) -> Result<Response, ApiError> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/html; charset=utf-8")
        .header("content-security-policy", ACCOUNT_PAGE_POLICY)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-store")
        .body(html)
        .build())
}

/// `GET /verify-email?token=…`: the form that confirms an address.
fn verify_email_page(_: &Request, _: &Params) -> Result<Response, ApiError> {
    account_page(include_str!("pages/verify-email.html"))
}

/// `GET /reset-password?token=…`: the form that sets a new password.
fn reset_password_page(_: &Request, _: &Params) -> Result<Response, ApiError> {
    account_page(include_str!("pages/reset-password.html"))
}

/// `GET /confirm-email?token=…`: the form that applies an e-mail change.
fn confirm_email_page(_: &Request, _: &Params) -> Result<Response, ApiError> {
    account_page(include_str!("pages/confirm-email.html"))
}

/// `GET /sign-in`: a password or a passkey signs in; a signed-in user
/// adds passkeys. WebAuthn needs the page on an origin of
/// `webauthn_origins`.
fn sign_in_page(_: &Request, _: &Params) -> Result<Response, ApiError> {
    account_page(include_str!("pages/sign-in.html"))
}

/// `GET /docs/:file`: one of Swagger UI's files.
fn asset(_: &Request, params: &Params) -> Result<Response, ApiError> {
    let name = params.get("file").unwrap_or_default();
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(file, _, _)| *file == name)
        .ok_or(ApiError::NotFound)?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", *content_type)
        .header("x-content-type-options", "nosniff")
        .header("cache-control", "public, max-age=86400")
        .body(bytes.to_vec())
        .build())
}
