//! The OAuth 2.0 side of `/token`, `/logout`, `/revoke` and `/introspect`:
//! request parsing (form or JSON); their errors are
//! `spin_users_http::OAuthError`.

use serde::Deserialize;
use spin_sdk::http::Request;
use spin_users_api::{AssertionCredential, MFA_GRANT_TYPE, PASSKEY_GRANT_TYPE};
use spin_users_domain::Proof;
use spin_users_http::{OAuthError, media_type, parse_json};

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
    /// `grant_type=urn:spin-users:grant-type:mfa`: the second half of a
    /// login answered `mfa_required`.
    Mfa {
        /// The `mfa_token` of that answer.
        mfa_token: String,
        /// The `otp` or `recovery_code`.
        proof: Proof,
    },
    /// `grant_type=urn:spin-users:grant-type:passkey`: a WebAuthn
    /// assertion answering a challenge of `POST /passkeys/login/options`.
    Passkey {
        /// The `credential`: the `PublicKeyCredential`'s `toJSON()`.
        credential: AssertionCredential,
    },
}

/// The parameters of `/token`, `/logout`, `/revoke` and `/introspect`
/// bodies.
#[derive(Deserialize, Default)]
pub struct Fields {
    grant_type: Option<String>,
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    /// The refresh token (token grant and logout).
    pub refresh_token: Option<String>,
    /// The token to revoke or introspect (RFC 7009, RFC 7662).
    token: Option<String>,
    /// Which kind `token` is, as its sender thinks: read so that it counts
    /// once, never needed (see `spin_users_domain::TokenKind`).
    token_type_hint: Option<String>,
    mfa_token: Option<String>,
    otp: Option<String>,
    recovery_code: Option<String>,
    /// The passkey grant's assertion, as a JSON string.
    credential: Option<String>,
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
                    "token" => &mut fields.token,
                    "token_type_hint" => &mut fields.token_type_hint,
                    "mfa_token" => &mut fields.mfa_token,
                    "otp" => &mut fields.otp,
                    "recovery_code" => &mut fields.recovery_code,
                    "credential" => &mut fields.credential,
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
        Some(MFA_GRANT_TYPE) => Ok(TokenRequest::Mfa {
            mfa_token: fields
                .mfa_token
                .ok_or(OAuthError::InvalidRequest("mfa_token is required"))?,
            proof: Proof::from_fields(fields.otp, fields.recovery_code).ok_or(
                OAuthError::InvalidRequest("otp or recovery_code is required"),
            )?,
        }),
        Some(PASSKEY_GRANT_TYPE) => {
            let credential = fields
                .credential
                .ok_or(OAuthError::InvalidRequest("credential is required"))?;
            Ok(TokenRequest::Passkey {
                credential: parse_json(credential.as_bytes()).map_err(|_| {
                    OAuthError::InvalidRequest("credential is not an AuthenticationResponseJSON")
                })?,
            })
        }
        Some(_) => Err(OAuthError::UnsupportedGrantType),
        None => Err(OAuthError::InvalidRequest("grant_type is required")),
    }
}

/// The `token` of a `/revoke` or `/introspect` body (RFC 7009 §2.1,
/// RFC 7662 §2.1).
pub fn token(req: &Request) -> Result<String, OAuthError> {
    let fields = fields(req)?;
    fields
        .token
        .filter(|token| !token.is_empty())
        .ok_or(OAuthError::InvalidRequest("token is required"))
}
