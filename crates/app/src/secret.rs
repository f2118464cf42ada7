//! Routes for machines (a Prometheus scraper, a scheduler) guarded by a
//! bearer secret from a Spin variable.

use spin_sdk::http::Request;
use spin_users_domain::secrets_match;
use spin_users_http::{ApiError, bearer_token};

use crate::config::optional;

/// What a route does when its secret variable is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnset {
    /// Anyone may call it (read-only routes an operator may leave open).
    Open,
    /// Nobody may (routes that act).
    Refuse,
}

/// Refuses `req` unless it carries `Authorization: Bearer <secret>` with
/// the secret in `variable`, compared in constant time.
pub fn require_secret(
    req: &Request,
    variable: &str,
    when_unset: WhenUnset,
) -> Result<(), ApiError> {
    let Some(expected) = optional(variable)? else {
        return match when_unset {
            WhenUnset::Open => Ok(()),
            WhenUnset::Refuse => Err(ApiError::Unauthorized(
                "the route's secret is not configured",
            )),
        };
    };
    if secrets_match(bearer_token(req)?, expected.trim()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("wrong secret"))
    }
}
