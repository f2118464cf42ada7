//! The answers of the endpoints other services call by standard:
//! introspection (RFC 7662), userinfo (OpenID Connect Core §5.3) and the
//! server metadata (OpenID Connect Discovery 1.0, RFC 8414).

use serde::Serialize;
use spin_users_domain::{ActiveToken, Role, User};
use utoipa::ToSchema;

/// An introspection answer (RFC 7662 §2.2): exactly `{"active": false}`
/// for a token that is not active, the claims below for one that is.
#[derive(Serialize, ToSchema)]
pub struct Introspection {
    /// Whether the token may be used now.
    pub active: bool,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// The owner's user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before (access tokens: their issue time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// The issuer (`token_issuer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The audience (`token_audience`), access tokens only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The session the token belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The access token's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The owner's roles now (not as the token remembers them).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::bodies::RoleName>>)]
    pub roles: Option<Vec<&'static str>>,
    /// How the session's login was proven (RFC 8176): `["pwd"]`, or
    /// `["pwd", "otp", "mfa"]` with a second factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["pwd", "otp", "mfa"]))]
    pub amr: Option<Vec<String>>,
}

impl Introspection {
    /// `{"active": false}`.
    pub fn inactive() -> Self {
        Self {
            active: false,
            token_type: None,
            sub: None,
            exp: None,
            iat: None,
            nbf: None,
            iss: None,
            aud: None,
            sid: None,
            jti: None,
            roles: None,
            amr: None,
        }
    }

    /// The answer for `token`, issued by `issuer` for `audience`.
    pub fn active(token: &ActiveToken, issuer: &str, audience: &str) -> Self {
        let access = token.token_id.is_some();
        Self {
            active: true,
            token_type: Some(token.kind.as_str()),
            sub: Some(token.subject.to_string()),
            exp: Some(token.expires_at),
            iat: Some(token.issued_at),
            nbf: access.then_some(token.issued_at),
            iss: Some(issuer.to_owned()),
            aud: access.then(|| audience.to_owned()),
            sid: token.session_id.clone(),
            jti: token.token_id.clone(),
            roles: Some(token.roles.iter().map(|r: &Role| r.as_str()).collect()),
            amr: Some(token.amr.clone()),
        }
    }
}

/// The userinfo answer (OpenID Connect Core §5.3.2): standard claims of
/// the token's owner.
#[derive(Serialize, ToSchema)]
pub struct UserInfo<'a> {
    /// The user id, as `sub` in the access token.
    sub: String,
    /// Display name.
    #[schema(value_type = String)]
    name: &'a str,
    /// Email address.
    #[schema(value_type = String, format = Email)]
    email: &'a str,
    /// Whether the owner proved the address is theirs.
    email_verified: bool,
    /// Last change to the account, seconds since the epoch.
    updated_at: i64,
    /// How the access token's login was proven (RFC 8176).
    #[schema(value_type = Vec<String>, example = json!(["pwd"]))]
    amr: &'a [String],
}

/// The userinfo claims of `user`, for an access token whose `amr` is `amr`.
pub fn user_info<'a>(user: &'a User, amr: &'a [String]) -> UserInfo<'a> {
    UserInfo {
        sub: user.id.to_string(),
        name: user.name.as_ref(),
        email: user.email.as_ref(),
        email_verified: user.email_verified,
        updated_at: user.updated_at,
        amr,
    }
}

/// The grant types `POST /token` accepts.
pub const GRANT_TYPES: &[&str] = &[
    "password",
    "refresh_token",
    MFA_GRANT_TYPE,
    PASSKEY_GRANT_TYPE,
];

/// The grant that finishes a login answered `mfa_required`.
pub const MFA_GRANT_TYPE: &str = "urn:spin-users:grant-type:mfa";

/// The grant that signs in with a passkey: a WebAuthn assertion answering
/// a challenge of `POST /passkeys/login/options`.
pub const PASSKEY_GRANT_TYPE: &str = "urn:spin-users:grant-type:passkey";

/// Claims the service's tokens and userinfo carry.
const CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "sid",
    "roles",
    "name",
    "email",
    "email_verified",
    "updated_at",
];

/// The authorization server's metadata (RFC 8414 §2), which is also the
/// OpenID Provider metadata of Discovery 1.0 §3: only what exists. How a
/// resource server authenticates at the introspection endpoint (a bearer
/// secret) has no value in the registry RFC 8414 draws on, so it is left
/// out rather than named wrongly.
#[derive(Serialize, ToSchema)]
pub struct ServerMetadata {
    /// Equal to `iss` in the tokens.
    pub issuer: String,
    /// The JWKS document (absolute).
    pub jwks_uri: String,
    /// `POST /token`.
    pub token_endpoint: String,
    /// `GET /userinfo`.
    pub userinfo_endpoint: String,
    /// `POST /revoke`.
    pub revocation_endpoint: String,
    /// `POST /introspect`.
    pub introspection_endpoint: String,
    /// What `grant_type` may be.
    pub grant_types_supported: &'static [&'static str],
    /// Clients are public: none authenticates at `/token` or `/revoke`.
    pub token_endpoint_auth_methods_supported: &'static [&'static str],
    /// As `token_endpoint_auth_methods_supported`.
    pub revocation_endpoint_auth_methods_supported: &'static [&'static str],
    /// There is no authorization endpoint, so no response type.
    pub response_types_supported: &'static [&'static str],
    /// Every user has one `sub` for every client.
    pub subject_types_supported: &'static [&'static str],
    /// Tokens are signed with Ed25519.
    pub id_token_signing_alg_values_supported: &'static [&'static str],
    /// What the tokens and userinfo carry.
    pub claims_supported: &'static [&'static str],
    /// The API's own documentation.
    pub service_documentation: String,
}

impl ServerMetadata {
    /// The metadata of the service at `base` (an origin, no trailing
    /// slash) whose tokens name `issuer`.
    pub fn new(base: &str, issuer: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            token_endpoint: format!("{base}/token"),
            userinfo_endpoint: format!("{base}/userinfo"),
            revocation_endpoint: format!("{base}/revoke"),
            introspection_endpoint: format!("{base}/introspect"),
            grant_types_supported: GRANT_TYPES,
            token_endpoint_auth_methods_supported: &["none"],
            revocation_endpoint_auth_methods_supported: &["none"],
            response_types_supported: &[],
            subject_types_supported: &["public"],
            id_token_signing_alg_values_supported: &["EdDSA"],
            claims_supported: CLAIMS,
            service_documentation: format!("{base}/docs"),
        }
    }
}
