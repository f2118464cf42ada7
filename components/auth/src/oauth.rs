//! The OAuth 2.0 side of `/token`: request parsing (form or JSON) and
//! RFC 6749 §5.2 error bodies.

use serde::Deserialize;
use spin_sdk::http::{Request, Response};
use spin_users_http::{ApiError, media_type, parse_json, respond};

/// A parsed token request.
pub enum TokenRequest {
    /// `grant_type=password` (RFC 6749 §4.3).
    Password {
        /// The account's email (OAuth calls it `username`).
        username: String,
        /// The password.
        password: String,
    },
    /// `grant_type=refresh_token` (RFC 6749 §6).
    Refresh {
        /// The refresh token.
        refresh_token: String,
    },
}

/// RFC 6749 §5.2 errors (plus an internal failure, answered as a 500).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Missing or malformed parameters, or an unsupported body type.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// Wrong credentials; the same for unknown accounts and wrong passwords.
    #[error("invalid_grant")]
    InvalidGrant,
    /// A grant type other than those supported.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// A body that is neither form-encoded nor JSON: `invalid_request` on
    /// `/token` (RFC 6749 has no 415), `415` on `/logout`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Over a rate limit or locked out: `429` problem+json with the limit
    /// headers (RFC 6749 defines no error for this).
    #[error("rate limited")]
    Limited(ApiError),
    /// Anything unexpected: logged, answered with a generic 500.
    #[error("internal: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::RateLimited { .. } => Self::Limited(e),
            // The cause travels on, whole, to the log line.
            ApiError::Internal(cause) => Self::Internal(cause),
            other => Self::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

/// `/logout` answers problem+json: the one place an OAuth parsing error
/// becomes an [`ApiError`].
impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        match e {
            OAuthError::Internal(cause) => Self::Internal(cause),
            OAuthError::Limited(e) => e,
            OAuthError::UnsupportedMediaType => Self::UnsupportedMediaType { accept: ACCEPTED },
            other => Self::InvalidJson(other.to_string()),
        }
    }
}

/// The body types `/token` and `/logout` read.
const ACCEPTED: &[&str] = &["application/x-www-form-urlencoded", "application/json"];

impl OAuthError {
    /// The response: `400` with `{"error", "error_description"}`, or `500`.
    pub fn into_response(self) -> Response {
        let (status, error, description) = match self {
            Self::Limited(e) => return respond(Err(e)),
            Self::InvalidRequest(why) => (400, "invalid_request", why),
            Self::InvalidGrant => (
                400,
                "invalid_grant",
                "The credentials or refresh token are not valid.",
            ),
            Self::UnsupportedGrantType => (
                400,
                "unsupported_grant_type",
                "Supported grant types: password, refresh_token.",
            ),
            Self::UnsupportedMediaType => (
                400,
                "invalid_request",
                "send application/x-www-form-urlencoded or application/json",
            ),
            Self::Internal(cause) => {
                eprintln!("token endpoint failed: {cause:#}");
                (
                    500,
                    "server_error",
                    "The server could not complete the request.",
                )
            }
        };
        let body = serde_json::json!({ "error": error, "error_description": description });
        token_response(&body).into_builder().status(status).build()
    }
}

/// A JSON response that no cache may keep (RFC 6749 §5.1).
pub fn token_response(body: &serde_json::Value) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .header("pragma", "no-cache")
        .body(body.to_string())
        .build()
}

/// The parameters of `/token` and `/logout` bodies.
#[derive(Deserialize, Default)]
pub struct Fields {
    grant_type: Option<String>,
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    /// The refresh token (token grant and logout).
    pub refresh_token: Option<String>,
}

/// Reads the body as `application/x-www-form-urlencoded` or JSON.
pub fn fields(req: &Request) -> Result<Fields, OAuthError> {
    // The size limit was applied when the request was read (`serve`).
    let body = req.body();
    match media_type(req).as_deref() {
        Some("application/x-www-form-urlencoded") => {
            let mut fields = Fields::default();
            for (key, value) in form_urlencoded::parse(body) {
                let slot = match key.as_ref() {
                    "grant_type" => &mut fields.grant_type,
                    "username" => &mut fields.username,
                    "email" => &mut fields.email,
                    "password" => &mut fields.password,
                    "refresh_token" => &mut fields.refresh_token,
                    _ => continue,
                };
                // RFC 6749 §3.2: parameters must not be repeated.
                if slot.replace(value.into_owned()).is_some() {
                    return Err(OAuthError::InvalidRequest("a parameter is repeated"));
                }
            }
            Ok(fields)
        }
        Some("application/json") => {
            parse_json(body).map_err(|_| OAuthError::InvalidRequest("the body is not valid JSON"))
        }
        _ => Err(OAuthError::UnsupportedMediaType),
    }
}

/// Parses a token request.
pub fn parse(req: &Request) -> Result<TokenRequest, OAuthError> {
    let fields = fields(req)?;
    match fields.grant_type.as_deref() {
        Some("password") => {
            let username = fields
                .username
                .or(fields.email)
                .ok_or(OAuthError::InvalidRequest("username is required"))?;
            let password = fields
                .password
                .ok_or(OAuthError::InvalidRequest("password is required"))?;
            Ok(TokenRequest::Password { username, password })
        }
        Some("refresh_token") => Ok(TokenRequest::Refresh {
            refresh_token: fields
                .refresh_token
                .ok_or(OAuthError::InvalidRequest("refresh_token is required"))?,
        }),
        Some(_) => Err(OAuthError::UnsupportedGrantType),
        None => Err(OAuthError::InvalidRequest("grant_type is required")),
    }
}
