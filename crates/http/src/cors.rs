//! CORS at the edge: preflight answers from the routing table, and the
//! `Access-Control-*` headers on every answer to an allowed origin. The
//! policy (`cors_allowed_origins`) is read only for requests that carry
//! `Origin`, which browsers send and API clients do not, so server-to-server
//! traffic and the cached reads it makes pay no host call for it.

use spin_sdk::http::{Method, Request, Response};
use spin_users_domain::{
    CORS_ALLOWED_HEADERS, CORS_EXPOSED_HEADERS, CORS_MAX_AGE_SECS, CorsPolicy,
};

use crate::problem::ApiError;
use crate::response::allowed_methods;

/// The variable listing the allowed origins.
const VARIABLE: &str = "cors_allowed_origins";

fn policy() -> Result<CorsPolicy, ApiError> {
    let list = spin_sdk::variables::get(VARIABLE)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("reading variable {VARIABLE}: {e}")))?;
    CorsPolicy::parse(&list).map_err(|e| ApiError::Internal(e.into()))
}

/// Whether `req` is a CORS preflight (RFC: Fetch §3.2.2): `OPTIONS` with
/// `Origin` and `Access-Control-Request-Method`.
pub(crate) fn is_preflight(req: &Request) -> bool {
    *req.method() == Method::Options
        && req.header("origin").is_some()
        && req.header("access-control-request-method").is_some()
}

/// The answer to a preflight for a resource supporting `allow`: `204` with
/// what a browser may send, or `403 origin-not-allowed`.
pub(crate) fn preflight(req: &Request, allow: &[Method]) -> Result<Response, ApiError> {
    let origin = req.header("origin").and_then(|v| v.as_str()).unwrap_or("");
    let policy = policy()?;
    let allow_origin = policy
        .allow_origin(origin)
        .ok_or(ApiError::OriginNotAllowed)?;
    Ok(Response::builder()
        .status(204)
        .header("access-control-allow-origin", allow_origin)
        .header(
            "access-control-allow-methods",
            allowed_methods(allow).join(", "),
        )
        .header("access-control-allow-headers", CORS_ALLOWED_HEADERS)
        .header("access-control-max-age", CORS_MAX_AGE_SECS.to_string())
        .header(
            "vary",
            "origin, access-control-request-method, access-control-request-headers",
        )
        .build())
}

/// `response` to a request from `origin` with the CORS headers an allowed
/// origin gets. Every answer varies by `Origin`, so a shared cache never
/// hands one origin's answer to another.
pub(crate) fn decorate(origin: Option<&str>, mut response: Response) -> Response {
    if response.header("vary").is_none() {
        response.set_header("vary", "origin");
    }
    let Some(origin) = origin else {
        return response;
    };
    if response.header("access-control-allow-origin").is_some() {
        return response; // a preflight answer, already complete
    }
    let policy = match policy() {
        Ok(policy) => policy,
        Err(e) => return crate::respond(Err(e)),
    };
    if let Some(allow_origin) = policy.allow_origin(origin) {
        response.set_header("access-control-allow-origin", allow_origin);
        response.set_header("access-control-expose-headers", CORS_EXPOSED_HEADERS);
    }
    response
}
