//! Request bodies, and the bodies of answers that are not a user view.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// Display name: 1–100 characters, no control or format characters.
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    /// Email address, unique ignoring case.
    #[schema(format = Email, example = "ada@example.com")]
    pub email: String,
    /// 8–128 characters, not the email.
    #[schema(format = Password, min_length = 8, max_length = 128, example = "correct horse battery")]
    pub password: String,
}

/// `PATCH /users/me`: any of the fields; email and password changes need
/// `current_password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    /// New display name.
    pub name: Option<String>,
    /// New email address.
    #[schema(format = Email)]
    pub email: Option<String>,
    /// New password, 8–128 characters, not the email; ends every other
    /// session.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: Option<String>,
    /// The current password (required for email and password changes).
    #[schema(format = Password)]
    pub current_password: Option<String>,
}

/// `DELETE /users/me`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    /// The current password. Optional in Rust so that its absence is a
    /// field error (`validation-failed`), not `invalid-json`.
    #[schema(format = Password, value_type = String, required = true)]
    pub current_password: Option<String>,
}

/// A role, as bodies and views name it.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum RoleName {
    /// Every account.
    User,
    /// Manages other accounts.
    Admin,
}

/// `PATCH /users/:id` (admins).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminBody {
    /// The roles; `user` is always kept.
    #[schema(value_type = Option<Vec<RoleName>>, example = json!(["user", "admin"]))]
    pub roles: Option<Vec<String>>,
    /// Disabling ends every session of the user.
    pub disabled: Option<bool>,
}

/// `POST /token` request (RFC 6749 §4.3 and §6), as
/// `application/x-www-form-urlencoded` or JSON: one grant per `grant_type`.
/// Documentation of what `auth` parses by hand (form fields and JSON
/// alike), so only the schema derive reads it.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "grant_type", rename_all = "snake_case")]
pub enum TokenRequestBody {
    /// Resource owner password credentials (RFC 6749 §4.3).
    Password {
        /// The account's email (`email` is accepted too).
        #[schema(format = Email)]
        username: String,
        /// The password.
        #[schema(format = Password)]
        password: String,
    },
    /// Refreshing (RFC 6749 §6).
    RefreshToken {
        /// The refresh token.
        refresh_token: String,
    },
}

/// `POST /logout` request (without `?all=true`).
#[derive(Deserialize, ToSchema)]
pub struct LogoutBody {
    /// The refresh token whose session ends.
    pub refresh_token: String,
}

/// A successful token answer (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// An EdDSA JWT, valid for `expires_in` seconds.
    pub access_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque, single use: exchange it at `/token` for the next pair.
    pub refresh_token: String,
}

/// A token error (RFC 6749 §5.2).
#[derive(Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type` or
    /// `server_error`.
    #[schema(example = "invalid_grant")]
    pub error: &'static str,
    /// For people.
    pub error_description: &'static str,
}

/// `POST /revoke` (RFC 7009 §2.1) and `POST /introspect` (RFC 7662 §2.1)
/// request, as `application/x-www-form-urlencoded` (or JSON).
#[derive(Deserialize, ToSchema)]
pub struct TokenBody {
    /// An access token or a refresh token.
    #[schema(min_length = 1)]
    pub token: String,
    /// `access_token` or `refresh_token`; optional, and never needed: the
    /// token's shape tells them apart (an unknown value is ignored, as
    /// RFC 7009 §2.1 says).
    pub token_type_hint: Option<String>,
}

/// `POST /password/forgot`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotBody {
    /// The address to mail a reset link to, if an enabled account has it.
    #[schema(format = Email)]
    pub email: String,
}

/// `POST /password/reset`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// The token from the reset mail.
    #[schema(min_length = 1)]
    pub token: String,
    /// The new password (8 to 128 characters, not the email address).
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: String,
}

/// The answer of a request that queues mail (`POST /password/forgot`: the
/// same for every address; `POST /users/me/verify-email`).
#[derive(Serialize, ToSchema)]
pub struct MailQueued {
    /// What happens next, for people.
    #[schema(example = "If an account has this address, a reset link is on its way.")]
    pub detail: &'static str,
}

/// `POST /email/verify`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The token from the verification mail.
    #[schema(min_length = 1)]
    pub token: String,
}
