//! Building responses: JSON bodies, problem bodies, method checks.

use serde::Serialize;
use spin_sdk::http::{Method, Request, Response};

use crate::problem::ApiError;

/// A JSON response with `status`.
pub fn json(status: u16, body: &impl Serialize) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(bytes)
        .build())
}

/// `Ok(())` when the request's method is in `allow`, else `405`.
pub fn require_method(req: &Request, allow: &'static [Method]) -> Result<(), ApiError> {
    if allow.contains(req.method()) {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed { allow })
    }
}

/// Turns a handler's result into the response, mapping errors to
/// `application/problem+json` and logging internal causes (to stderr, which
/// Spin captures) with their whole chain.
pub fn respond(result: Result<Response, ApiError>) -> Response {
    let err = match result {
        Ok(response) => return response,
        Err(err) => err,
    };
    match &err {
        ApiError::Internal(cause) => eprintln!("internal error: {cause:#}"),
        ApiError::Unauthorized(reason) => eprintln!("unauthorized: {reason}"),
        _ => {}
    }
    let problem = err.problem();
    let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut builder = Response::builder();
    builder
        .status(problem.status)
        .header("content-type", "application/problem+json")
        .header("cache-control", "no-store");
    match &err {
        ApiError::MethodNotAllowed { allow } => {
            let allow = allow
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            builder.header("allow", allow);
        }
        ApiError::Unauthorized(_) => {
            builder.header("www-authenticate", "Bearer");
        }
        ApiError::UnsupportedMediaType { accept } => {
            builder.header("accept", accept.join(", "));
        }
        ApiError::RateLimited { headers } => {
            for (name, value) in headers {
                builder.header(*name, value.clone());
            }
        }
        _ => {}
    }
    builder.body(body).build()
}

/// Whether an `If-None-Match` header value matches `etag` (weak comparison,
/// RFC 9110 §13.1.2: `W/` prefixes are ignored; `*` matches anything).
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if_none_match
        .split(',')
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == bare(etag))
}

/// A `200` JSON response with `ETag`, or `304 Not Modified` when the
/// request's `If-None-Match` already names it. Responses are private to the
/// caller and revalidated on every use.
pub fn json_with_etag(
    req: &Request,
    etag: &str,
    body: &impl Serialize,
) -> Result<Response, ApiError> {
    let matches = req
        .header("if-none-match")
        .and_then(|v| v.as_str())
        .is_some_and(|v| etag_matches(v, etag));
    let mut response = if matches {
        Response::builder().status(304).build()
    } else {
        json(200, body)?
    };
    response.set_header("etag", etag);
    response.set_header("cache-control", "private, no-cache");
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_uses_weak_comparison_and_lists() {
        assert!(etag_matches("\"a\"", "\"a\""));
        assert!(etag_matches("W/\"a\"", "\"a\""));
        assert!(etag_matches("\"x\", \"a\"", "\"a\""));
        assert!(etag_matches("*", "\"a\""));
        assert!(!etag_matches("\"b\"", "\"a\""));
        assert!(!etag_matches("", "\"a\""));
    }
}
