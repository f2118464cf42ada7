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
    /// A current code from the authenticator app: required with
    /// `current_password` while a second factor is on (or `recovery_code`).
    #[schema(example = "123456")]
    pub code: Option<String>,
    /// One of the recovery codes, instead of `code`; it is spent.
    pub recovery_code: Option<String>,
}

/// `DELETE /users/me`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    /// The current password. Optional in Rust so that its absence is a
    /// field error (`validation-failed`), not `invalid-json`.
    #[schema(format = Password, value_type = String, required = true)]
    pub current_password: Option<String>,
    /// A current code from the authenticator app: required with
    /// `current_password` while a second factor is on (or `recovery_code`).
    #[schema(example = "123456")]
    pub code: Option<String>,
    /// One of the recovery codes, instead of `code`; it is spent.
    pub recovery_code: Option<String>,
}

/// `POST /users/me/mfa/totp`: starts an enrolment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolBody {
    /// The current password.
    #[schema(format = Password, value_type = String, required = true)]
    pub current_password: Option<String>,
}

/// `POST /users/me/mfa/totp/confirm`: a code from the app, proving it
/// holds the secret.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// The 6-digit code the app shows now.
    #[schema(value_type = String, required = true, example = "123456")]
    pub code: Option<String>,
}

/// Proof the caller is the account's owner, now: the password, and the
/// second factor while one is on (`DELETE /users/me/mfa/totp`,
/// `POST /users/me/passkeys/options`, `DELETE /users/me/passkeys/{id}`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthBody {
    /// The current password.
    #[schema(format = Password, value_type = String, required = true)]
    pub current_password: Option<String>,
    /// A current code from the authenticator app: required with
    /// `current_password` while a second factor is on (or `recovery_code`).
    #[schema(example = "123456")]
    pub code: Option<String>,
    /// One of the recovery codes, instead of `code`; it is spent.
    pub recovery_code: Option<String>,
}

/// The answer to `POST /users/me/mfa/totp`, shown once: nothing is on
/// until `POST /users/me/mfa/totp/confirm`.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The secret, base32 without padding (160 bits), for typing in.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// `otpauth://totp/…` (SHA1, 6 digits, 30 s) for authenticator apps.
    pub otpauth_uri: String,
    /// The URI as an SVG QR code.
    pub qr_svg: String,
}

/// The answer to `POST /users/me/mfa/totp/confirm`: the second factor is
/// on; the recovery codes are shown this once and stored hashed.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Single-use codes for when the app is lost.
    #[schema(example = json!(["k3x9p-2mwq7"]))]
    pub recovery_codes: Vec<String>,
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
    /// The second half of a login whose password answered `mfa_required`.
    #[serde(rename = "urn:spin-users:grant-type:mfa")]
    Mfa {
        /// The `mfa_token` of the `mfa_required` answer (5 minutes, once).
        mfa_token: String,
        /// A current code from the authenticator app.
        otp: Option<String>,
        /// A recovery code, instead of `otp`.
        recovery_code: Option<String>,
    },
    /// A passkey sign-in: both factors at once, so never `mfa_required`;
    /// `amr` is `["hwk","user"]` for a device-bound passkey and
    /// `["swk","user"]` for a synced one (BE set).
    #[serde(rename = "urn:spin-users:grant-type:passkey")]
    Passkey {
        /// The `PublicKeyCredential` of `navigator.credentials.get()`
        /// (its `toJSON()`, an `AssertionCredential`) as a JSON string,
        /// answering a challenge of `POST /passkeys/login/options`.
        credential: String,
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
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type`,
    /// `mfa_required` or `server_error`.
    #[schema(example = "invalid_grant")]
    pub error: &'static str,
    /// For people.
    pub error_description: &'static str,
    /// With `mfa_required` (`403`): exchange it, with a code, at `/token`
    /// with `grant_type=urn:spin-users:grant-type:mfa`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
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
