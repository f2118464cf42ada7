//! Building responses: JSON bodies, problem bodies, method checks.

use serde::Serialize;
use spin_sdk::http::{
    Fields, Method, OutgoingBody, OutgoingResponse, Request, Response, ResponseOutparam,
};
use spin_users_domain::entity_tag;

use crate::problem::ApiError;

/// A JSON response with `status`.
pub fn json(status: u16, body: &impl Serialize) -> Result<Response, ApiError> {
    Ok(json_bytes(status, to_json(body)?))
}

pub(crate) fn to_json(body: &impl Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.into()))
}

/// A JSON response with `status` and the `ETag` of its body, for a write
/// that answers with the new representation (a client can send it back in
/// `If-Match`).
pub fn json_tagged(status: u16, body: &impl Serialize) -> Result<Response, ApiError> {
    let bytes = to_json(body)?;
    let etag = entity_tag(&bytes);
    let mut response = json_bytes(status, bytes);
    response.set_header("etag", etag);
    Ok(response)
}

/// A JSON response with `status` and an already serialised body.
fn json_bytes(status: u16, bytes: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(bytes)
        .build()
}

/// The methods a resource allowing `allow` answers: `HEAD` wherever `GET`
/// is (see [`crate::serve`]).
pub(crate) fn allowed_methods(allow: &[Method]) -> Vec<String> {
    let mut methods = Vec::new();
    for method in allow {
        methods.push(method.to_string());
        if *method == Method::Get {
            methods.push(Method::Head.to_string());
        }
    }
    methods
}

/// `Retry-After` of a `503 unavailable`: a refused connection (a full
/// pool, a server starting) usually clears within seconds.
pub const RETRY_UNAVAILABLE_AFTER_SECS: u32 = 2;

/// Whole seconds from now until `until` (seconds since the epoch), at
/// least one: a `Retry-After` that never says "now" while still refusing.
fn seconds_until(until: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    (until - now).max(1)
}

/// Turns a handler's result into the response, mapping errors to
/// `application/problem+json` and logging internal causes (to stderr, which
/// Spin captures) with their whole chain.
pub fn respond(result: Result<Response, ApiError>) -> Response {
    let err = match result {
        Ok(response) => return response,
        Err(ApiError::Internal(cause)) if ApiError::is_unavailable(&cause) => {
            ApiError::Unavailable(format!("{cause:#}"))
        }
        Err(err) => err,
    };
    match &err {
        ApiError::Internal(cause) => eprintln!("internal error: {cause:#}"),
        ApiError::Unavailable(cause) => eprintln!("unavailable: {cause}"),
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
            builder.header("allow", allowed_methods(allow).join(", "));
        }
        ApiError::Unauthorized(_) => {
            builder.header("www-authenticate", "Bearer");
        }
        ApiError::UnsupportedMediaType { accept } => {
            builder.header("accept", accept.join(", "));
        }
        ApiError::Unavailable(_) => {
            builder.header("retry-after", RETRY_UNAVAILABLE_AFTER_SECS.to_string());
        }
        ApiError::SecondFactorLocked { until } => {
            builder.header("retry-after", seconds_until(*until).to_string());
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

/// Sends `response` through `outparam` in one piece: the whole body is
/// written, with its `content-length`, and finished *before* the headers
/// are committed.
///
/// Spin sends the headers the moment the outparam is set and streams the
/// body after. When the body's bytes follow a moment later (Spin hands
/// every variable and key-value call to another thread, so they often do),
/// they leave as a second small TCP segment, which Nagle's algorithm holds
/// (Spin sets no `TCP_NODELAY`) until the client's delayed ACK, ~40 ms
/// later. With the body already complete, hyper writes status, headers
/// and body together.
///
/// A body larger than the host lets a component buffer (its write budget,
/// 1 MiB in Wasmtime) cannot be written before the outparam is set; it is
/// streamed after, where the tail does not arise (its segments are full).
pub fn send(response: Response, outparam: ResponseOutparam) {
    send_answer(response, outparam, false);
}

/// [`send`], for a `HEAD` request when `head`: the same status and
/// headers, no body and so no content-length (the host would refuse a
/// length the body does not have).
pub(crate) fn send_answer(response: Response, outparam: ResponseOutparam, head: bool) {
    let status = *response.status();
    // 1xx, 204 and 304 have no content, and a 304 must not claim a length
    // other than the 200's (RFC 9110 §8.6), so they get no content-length.
    let bodiless = head || status < 200 || status == 204 || status == 304;
    let mut headers: Vec<(String, Vec<u8>)> = response
        .headers()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
        .map(|(name, value)| (name.to_owned(), value.as_bytes().to_vec()))
        .collect();
    let body = if bodiless {
        Vec::new()
    } else {
        response.into_body()
    };
    if !bodiless {
        headers.push(("content-length".into(), body.len().to_string().into_bytes()));
    }
    let outgoing = match Fields::from_list(&headers) {
        Ok(fields) => OutgoingResponse::new(fields),
        Err(e) => {
            eprintln!("internal error: response headers rejected: {e:?}");
            return send_answer(bare_internal_error(), outparam, head);
        }
    };
    if outgoing.set_status_code(status).is_err() {
        eprintln!("internal error: status {status} rejected");
        return send_answer(bare_internal_error(), outparam, head);
    }
    let Ok(outgoing_body) = outgoing.body() else {
        eprintln!("internal error: the response body was already taken");
        return;
    };
    let Ok(stream) = outgoing_body.write() else {
        eprintln!("internal error: the response body is not writable");
        return;
    };
    let budget = stream.check_write().unwrap_or(0);
    if body.len() as u64 <= budget {
        if !body.is_empty()
            && let Err(e) = stream.write(&body)
        {
            eprintln!("internal error: writing the response body: {e:?}");
        }
        drop(stream);
        finish(outgoing_body);
        outparam.set(outgoing);
    } else {
        outparam.set(outgoing);
        for chunk in body.chunks(4096) {
            if let Err(e) = stream.blocking_write_and_flush(chunk) {
                eprintln!("response body not fully sent: {e:?}");
                break;
            }
        }
        drop(stream);
        finish(outgoing_body);
    }
}

fn finish(body: OutgoingBody) {
    if let Err(e) = OutgoingBody::finish(body, None) {
        eprintln!("internal error: finishing the response body: {e:?}");
    }
}

/// The answer when a response cannot be built (a header value the host
/// refuses): nothing from the failed response is echoed.
fn bare_internal_error() -> Response {
    respond(Err(ApiError::Internal(anyhow::anyhow!(
        "the response could not be built"
    ))))
}

/// Whether an `If-None-Match` header value matches `etag` (weak comparison,
/// RFC 9110 §13.1.2: `W/` prefixes are ignored; `*` matches anything).
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if_none_match
        .split(',')
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == bare(etag))
}

/// A `200` JSON response with an `ETag` computed from the body itself, or
/// `304 Not Modified` when the request's `If-None-Match` already names it.
/// The tag depends only on what the response shows, so it reveals nothing
/// about changes it does not show. Responses are private to the caller and
/// revalidated on every use.
pub fn json_with_etag(req: &Request, body: &impl Serialize) -> Result<Response, ApiError> {
    let bytes = to_json(body)?;
    let etag = entity_tag(&bytes);
    let matches = req
        .header("if-none-match")
        .and_then(|v| v.as_str())
        .is_some_and(|v| etag_matches(v, &etag));
    let mut response = if matches {
        Response::builder().status(304).build()
    } else {
        json_bytes(200, bytes)
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
