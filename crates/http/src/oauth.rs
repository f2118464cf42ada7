//! The errors of OAuth 2.0 endpoints (`/token`): RFC 6749 §5.2 bodies,
//! because OAuth clients parse them, and the one mapping of the domain's
//! authentication errors onto them.

use serde::Serialize;
use spin_sdk::http::Response;
use spin_users_api::OAuthErrorBody;
use spin_users_domain::{
    AuthError, MfaLoginError, PasskeyFlowError, RefreshError, RepoError, SecondFactorError,
};

use crate::problem::ApiError;
use crate::response::respond;

/// RFC 6749 §5.2 errors (plus an internal failure, answered as a 500).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Missing or malformed parameters.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// Wrong credentials or refresh token; the same for unknown accounts,
    /// wrong passwords and reused tokens.
    #[error("invalid_grant")]
    InvalidGrant,
    /// The password was right, but `email_verification = "required"` and
    /// the address is not proven yet.
    #[error("invalid_grant: the address is not verified")]
    Unverified,
    /// The password was right and the account has a second factor on:
    /// `403` with `mfa_required` and the `mfa_token` that, with a code,
    /// finishes the login (no tokens yet).
    #[error("mfa_required")]
    MfaRequired {
        /// The token of this password login.
        mfa_token: String,
    },
    /// A grant type other than those supported.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// A body that is neither form-encoded nor JSON: `invalid_request` on
    /// `/token` (RFC 6749 has no 415), `415` where problem+json is answered.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Over a rate limit or locked out: `429` problem+json with the limit
    /// headers (RFC 6749 defines no error for this).
    #[error("rate limited")]
    Limited(ApiError),
    /// The database is unavailable for now: `503` problem+json with
    /// `Retry-After` (RFC 6749 §5.2 has no error for this either).
    #[error("unavailable")]
    Unavailable(ApiError),
    /// Anything unexpected: logged, answered with a generic 500.
    #[error("internal: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// The body types OAuth endpoints read.
pub const OAUTH_MEDIA_TYPES: &[&str] = &["application/x-www-form-urlencoded", "application/json"];

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::RateLimited { .. } | ApiError::SecondFactorLocked { .. } => Self::Limited(e),
            ApiError::Unavailable(_) => Self::Unavailable(e),
            // The cause travels on, whole, to the log line.
            ApiError::Internal(cause) => Self::Internal(cause),
            other => Self::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

/// Where an endpoint answers problem+json (`/logout`), OAuth parsing errors
/// become [`ApiError`]s here.
impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        match e {
            OAuthError::Internal(cause) => Self::Internal(cause),
            OAuthError::Limited(e) | OAuthError::Unavailable(e) => e,
            OAuthError::UnsupportedMediaType => Self::UnsupportedMediaType {
                accept: OAUTH_MEDIA_TYPES,
            },
            other => Self::InvalidJson(other.to_string()),
        }
    }
}

impl From<AuthError> for OAuthError {
    fn from(e: AuthError) -> Self {
        match e {
            // Which part was wrong stays in the audit log.
            AuthError::InvalidCredentials { .. } => Self::InvalidGrant,
            AuthError::Storage(e) => e.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<RefreshError> for OAuthError {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::Invalid(_) | RefreshError::Reused { .. } => Self::InvalidGrant,
            RefreshError::Storage(e) => e.into(),
        }
    }
}

impl From<MfaLoginError> for OAuthError {
    fn from(e: MfaLoginError) -> Self {
        match e {
            // A bad token, a wrong or spent code, and an account without a
            // factor are one answer: none says which.
            MfaLoginError::Token(_) => Self::InvalidGrant,
            MfaLoginError::Factor { error, .. } => match error {
                SecondFactorError::Invalid
                | SecondFactorError::LockedNow { .. }
                | SecondFactorError::NotEnabled
                | SecondFactorError::NotEnrolling
                | SecondFactorError::Required => Self::InvalidGrant,
                SecondFactorError::Storage(e) => e.into(),
                locked @ SecondFactorError::Locked { .. } => Self::Limited(locked.into()),
                other => Self::Internal(other.into()),
            },
            MfaLoginError::Storage(e) => e.into(),
        }
    }
}

impl From<PasskeyFlowError> for OAuthError {
    fn from(e: PasskeyFlowError) -> Self {
        match e {
            PasskeyFlowError::Storage(e) => e.into(),
            // A made-up, replayed or foreign assertion, an unknown passkey
            // and a cloned one are one answer; the log says which.
            refused => {
                eprintln!("passkey sign-in refused: {refused}");
                Self::InvalidGrant
            }
        }
    }
}

impl From<RepoError> for OAuthError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Unavailable(_) => Self::Unavailable(e.into()),
            other => Self::Internal(other.into()),
        }
    }
}

impl OAuthError {
    /// The response: `400` with `{"error", "error_description"}`, `429`
    /// problem+json, or `500`.
    pub fn into_response(self) -> Response {
        let (status, error, description) = match self {
            Self::Limited(e) | Self::Unavailable(e) => return respond(Err(e)),
            Self::InvalidRequest(why) => (400, "invalid_request", why),
            Self::InvalidGrant => (
                400,
                "invalid_grant",
                "The credentials or refresh token are not valid.",
            ),
            Self::Unverified => (
                400,
                "invalid_grant",
                "The email address is not verified yet: use the link in the verification mail, or reset the password, which proves the address too.",
            ),
            Self::MfaRequired { mfa_token } => {
                let body = OAuthErrorBody {
                    error: "mfa_required",
                    error_description: "A second factor is required: send the mfa_token with otp (or recovery_code) and grant_type=urn:spin-users:grant-type:mfa.",
                    mfa_token: Some(mfa_token),
                };
                return token_response(&body).into_builder().status(403).build();
            }
            Self::UnsupportedGrantType => (
                400,
                "unsupported_grant_type",
                "Supported grant types: password, refresh_token, urn:spin-users:grant-type:mfa.",
            ),
            Self::UnsupportedMediaType => (
                400,
                "invalid_request",
                "send application/x-www-form-urlencoded or application/json",
            ),
            Self::Internal(cause) if ApiError::is_unavailable(&cause) => {
                return respond(Err(ApiError::Unavailable(format!("{cause:#}"))));
            }
            Self::Internal(cause) => {
                eprintln!("token endpoint failed: {cause:#}");
                (
                    500,
                    "server_error",
                    "The server could not complete the request.",
                )
            }
        };
        let body = OAuthErrorBody {
            error,
            error_description: description,
            mfa_token: None,
        };
        token_response(&body).into_builder().status(status).build()
    }
}

/// A JSON response that no cache may keep (RFC 6749 §5.1).
pub fn token_response(body: &impl Serialize) -> Response {
    // Both bodies are plain structs of strings and numbers.
    let body = serde_json::to_string(body).unwrap_or_default();
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .header("pragma", "no-cache")
        .body(body)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_users_domain::UserId;
    use spin_users_domain::testing::SeededRandom;

    #[test]
    fn every_credential_failure_is_the_same_invalid_grant() {
        let someone = UserId::generate(&mut SeededRandom::new(1));
        let failures: Vec<OAuthError> = vec![
            AuthError::InvalidCredentials {
                reason: "unknown_email",
                user_id: None,
            }
            .into(),
            AuthError::InvalidCredentials {
                reason: "wrong_password",
                user_id: Some(someone.clone()),
            }
            .into(),
            RefreshError::Invalid("expired").into(),
            RefreshError::Reused {
                family_id: "f".into(),
                user_id: someone.clone(),
            }
            .into(),
            MfaLoginError::Token("unknown, expired or spent").into(),
            MfaLoginError::Factor {
                user: someone.clone(),
                error: SecondFactorError::Invalid,
            }
            .into(),
            MfaLoginError::Factor {
                user: someone.clone(),
                error: SecondFactorError::NotEnabled,
            }
            .into(),
            MfaLoginError::Factor {
                user: someone.clone(),
                error: SecondFactorError::LockedNow { until: 1 },
            }
            .into(),
        ];
        for failure in failures {
            assert!(matches!(failure, OAuthError::InvalidGrant), "{failure:?}");
        }
    }

    #[test]
    fn a_locked_second_factor_is_a_429_with_retry_after() {
        let locked: OAuthError = MfaLoginError::Factor {
            user: UserId::generate(&mut SeededRandom::new(2)),
            error: SecondFactorError::Locked { until: i64::MAX },
        }
        .into();
        let response = locked.into_response();
        assert_eq!(*response.status(), 429);
        assert!(response.header("retry-after").is_some());
    }

    #[test]
    fn storage_failures_keep_their_cause() {
        let e: OAuthError = RefreshError::Storage(RepoError::Storage("disk full".into())).into();
        assert!(format!("{e}").contains("disk full"), "{e}");
        let e: OAuthError = ApiError::Internal(anyhow::anyhow!("lost connection")).into();
        assert!(format!("{e}").contains("lost connection"), "{e}");
    }
}
