//! Conditional writes: `If-Match` (RFC 9110 §13.1.1) and retrying a write
//! whose read went stale.

use serde::Serialize;
use spin_sdk::http::Request;
use spin_users_domain::entity_tag;

use crate::problem::ApiError;
use crate::response::to_json;

/// Attempts a read-check-write makes in all before answering `409`.
const ATTEMPTS: u32 = 3;

/// `Ok` unless the request has an `If-Match` that names no current
/// representation; `current` is what `GET` shows now. Strong comparison:
/// a weak tag (`W/"…"`) never matches; `*` matches any current
/// representation.
pub fn check_if_match(req: &Request, current: &impl Serialize) -> Result<(), ApiError> {
    let Some(header) = req.header("if-match") else {
        return Ok(());
    };
    let header = header.as_str().ok_or(ApiError::PreconditionFailed)?;
    let etag = entity_tag(&to_json(current)?);
    let matches = header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || (!candidate.starts_with("W/") && candidate == etag));
    if matches {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed)
    }
}

/// Runs `attempt` (read, check, conditional write) again when its write
/// found the row changed since its read (`EditConflict`), up to three
/// attempts in all, then answers `409`. A request with `If-Match` is not
/// retried: its precondition named the read that went stale, so it gets
/// `412`.
pub fn retry_stale<T>(
    req: &Request,
    attempt: impl FnMut() -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    if req.header("if-match").is_some() {
        let mut attempt = attempt;
        return attempt().map_err(|e| match e {
            ApiError::EditConflict => ApiError::PreconditionFailed,
            other => other,
        });
    }
    retry_stale_writes(attempt)
}

/// Runs `attempt` (read, change, conditional write) again when its write
/// found the row changed since its read, up to three attempts in all.
pub fn retry_stale_writes<T>(
    mut attempt: impl FnMut() -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut tries = 1;
    loop {
        match attempt() {
            Err(ApiError::EditConflict) if tries < ATTEMPTS => tries += 1,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_sdk::http::Method;

    fn with_if_match(value: &str) -> Request {
        Request::builder()
            .method(Method::Patch)
            .uri("/users/me")
            .header("if-match", value)
            .build()
    }

    #[test]
    fn if_match_compares_strongly() {
        let view = serde_json::json!({"name": "Ada"});
        let tag = entity_tag(&to_json(&view).expect("json"));

        assert!(check_if_match(&with_if_match(&tag), &view).is_ok());
        assert!(check_if_match(&with_if_match(&format!("\"x\", {tag}")), &view).is_ok());
        assert!(check_if_match(&with_if_match("*"), &view).is_ok());
        for refused in [format!("W/{tag}"), "\"x\"".into(), String::new()] {
            assert!(
                matches!(
                    check_if_match(&with_if_match(&refused), &view),
                    Err(ApiError::PreconditionFailed)
                ),
                "{refused}"
            );
        }
        let unconditional = Request::builder().method(Method::Patch).build();
        assert!(check_if_match(&unconditional, &view).is_ok());
    }

    #[test]
    fn stale_writes_are_retried_then_refused_and_never_retried_under_if_match() {
        let unconditional = Request::builder().method(Method::Patch).build();
        let mut calls = 0;
        let gave_up: Result<(), _> = retry_stale(&unconditional, || {
            calls += 1;
            Err(ApiError::EditConflict)
        });
        assert!(matches!(gave_up, Err(ApiError::EditConflict)));
        assert_eq!(calls, ATTEMPTS);

        let mut calls = 0;
        let second = retry_stale(&unconditional, || {
            calls += 1;
            if calls == 1 {
                Err(ApiError::EditConflict)
            } else {
                Ok(calls)
            }
        });
        assert_eq!(second.ok(), Some(2));

        let mut calls = 0;
        let conditional: Result<(), _> = retry_stale(&with_if_match("\"a\""), || {
            calls += 1;
            Err(ApiError::EditConflict)
        });
        assert!(matches!(conditional, Err(ApiError::PreconditionFailed)));
        assert_eq!(calls, 1);
    }
}
