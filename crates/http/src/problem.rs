//! RFC 9457 problem details and the one error type handlers return.

use serde::Serialize;
use serde_json::{Map, Value};
use spin_sdk::http::Method;
use spin_users_domain::{
    FieldError, MAX_PASSKEYS, PasskeyFlowError, RegisterError, RepoError, ResetError,
    SecondFactorError, UpdateError, ValidationErrors,
};

pub use spin_users_api::PROBLEM_TYPE_PREFIX;

/// Errors a handler can return; each variant's doc names its status and
/// stable `code` (the `type` is [`PROBLEM_TYPE_PREFIX`] + code).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `400 Bad Request`, code `invalid-json`: the body is not the JSON expected.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// `401 Unauthorized` with `WWW-Authenticate: Bearer`, code
    /// `unauthorized`: missing or unacceptable credentials. The reason is
    /// logged, never sent.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// `403 Forbidden`, code `forbidden`: authenticated but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// `403 Forbidden`, code `password-change-required`: the account must
    /// pick a new password (`PATCH /users/me`) before it may do anything
    /// else, as the bootstrap admin must after its first login.
    #[error("password change required")]
    PasswordChangeRequired,
    /// `403 Forbidden`, code `origin-not-allowed`: a CORS preflight from an
    /// origin `cors_allowed_origins` does not list.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// `400 Bad Request`, code `invalid-token`: a mailed one-time token that
    /// is made up, spent, expired, for another purpose, or whose account
    /// moved on; one answer for all.
    #[error("invalid one-time token")]
    InvalidToken,
    /// `404 Not Found`, code `not-found`.
    #[error("not found")]
    NotFound,
    /// `405 Method Not Allowed` with `Allow`, code `method-not-allowed`.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// Methods the resource supports.
        allow: Vec<Method>,
    },
    /// `409 Conflict`, code `email-taken`: the email is already registered.
    #[error("email taken")]
    EmailTaken,
    /// `409 Conflict`, code `idempotency-key-in-use`: a request with this
    /// `Idempotency-Key` is still being processed.
    #[error("idempotency key in use")]
    IdempotencyKeyInUse,
    /// `409 Conflict`, code `edit-conflict`: the resource kept changing
    /// while this request tried to change it; nothing was written.
    #[error("edit conflict")]
    EditConflict,
    /// `409 Conflict`, code `last-admin`: the change would leave no active
    /// administrator.
    #[error("last admin")]
    LastAdmin,
    /// `409 Conflict`, code `second-factor-enabled`: a second factor is on
    /// already (turn it off first).
    #[error("second factor enabled")]
    SecondFactorEnabled,
    /// `409 Conflict`, code `second-factor-not-enabled`: the account has no
    /// second factor on (or, for a confirmation, none pending).
    #[error("second factor not enabled")]
    SecondFactorNotEnabled,
    /// `429 Too Many Requests`, code `second-factor-locked`, with
    /// `Retry-After`: five wrong second factors in a row lock the account's
    /// factor for 15 minutes.
    #[error("second factor locked")]
    SecondFactorLocked {
        /// When the lock ends (seconds since the epoch).
        until: i64,
    },
    /// `400 Bad Request`, code `passkey-rejected`: a passkey registration
    /// that failed WebAuthn verification (its challenge unknown, spent,
    /// expired or another ceremony's, or a check of §7.1); the reason is
    /// logged, never sent.
    #[error("passkey rejected")]
    PasskeyRejected,
    /// `409 Conflict`, code `passkey-registered`: this credential is
    /// registered already.
    #[error("passkey registered")]
    PasskeyRegistered,
    /// `409 Conflict`, code `too-many-passkeys`: the account holds the
    /// most passkeys it may.
    #[error("too many passkeys")]
    TooManyPasskeys,
    /// `409 Conflict`, code `task-not-dead`: only a `dead` job can be
    /// retried.
    #[error("task not dead")]
    TaskNotDead,
    /// `412 Precondition Failed`, code `precondition-failed`: `If-Match`
    /// names no current representation; nothing was written.
    #[error("precondition failed")]
    PreconditionFailed,
    /// `422 Unprocessable Content`, code `idempotency-key-reused`: the key
    /// was used before with a different request body.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// `413 Content Too Large`, code `payload-too-large`.
    #[error("payload too large")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// `415 Unsupported Media Type`, code `unsupported-media-type`.
    #[error("unsupported media type")]
    UnsupportedMediaType {
        /// Media types the endpoint accepts.
        accept: &'static [&'static str],
    },
    /// `429 Too Many Requests`, code `rate-limited`, with `Retry-After` and
    /// the IETF `RateLimit` / `RateLimit-Policy` headers.
    #[error("rate limited")]
    RateLimited {
        /// The headers describing the limit.
        headers: Vec<(&'static str, String)>,
    },
    /// `422 Unprocessable Content`, code `validation-failed`, with an
    /// `errors` member listing each field's failure.
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    /// `503 Service Unavailable`, code `not-ready`: a dependency is down.
    /// `extensions` are added to the body (e.g. which checks failed).
    #[error("service not ready")]
    NotReady {
        /// Extra members for the problem body.
        extensions: Map<String, Value>,
    },
    /// `503 Service Unavailable`, code `unavailable`, with `Retry-After`:
    /// the database refused or failed a connection (too many clients,
    /// starting up, unreachable), or the cache a write must update could
    /// not be reached. The cause is logged.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// `500 Internal Server Error`, code `internal`: the cause is logged,
    /// the client gets a generic sentence.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// Stable URI identifying the problem type.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short, human-readable summary of the type.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    pub detail: String,
    /// The stable code (last part of `type`), for clients that prefer a short key.
    pub code: &'static str,
    /// Extension members.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// Domain errors map here, once, so handlers use `?`.
impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Stale => Self::EditConflict,
            RepoError::LastAdmin => Self::LastAdmin,
            RepoError::Unavailable(cause) => Self::Unavailable(cause),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::Validation(e.into())
    }
}

impl From<UpdateError> for ApiError {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::Invalid(errors) => Self::Validation(errors),
            UpdateError::EmailTaken => Self::EmailTaken,
            UpdateError::Stale => Self::EditConflict,
            UpdateError::LastAdmin => Self::LastAdmin,
            UpdateError::SecondFactor(e) => e.into(),
            UpdateError::Storage(e) => e.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<SecondFactorError> for ApiError {
    fn from(e: SecondFactorError) -> Self {
        Self::second_factor(e, "code")
    }
}

impl ApiError {
    /// `e` as the answer to a second factor given in body field `field`.
    pub fn second_factor(e: SecondFactorError, field: &'static str) -> Self {
        match e {
            SecondFactorError::AlreadyEnabled => Self::SecondFactorEnabled,
            SecondFactorError::NotEnrolling | SecondFactorError::NotEnabled => {
                Self::SecondFactorNotEnabled
            }
            SecondFactorError::Required => FieldError::new(
                field,
                "required",
                "give a current code from the authenticator app, or a recovery code",
            )
            .into(),
            // The failure that locks is still a wrong code; the lock
            // answers from the next attempt on.
            SecondFactorError::Invalid | SecondFactorError::LockedNow { .. } => FieldError::new(
                field,
                "incorrect",
                "the code is not correct, or was used already",
            )
            .into(),
            SecondFactorError::Locked { until } => Self::SecondFactorLocked { until },
            SecondFactorError::Storage(e) => e.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<PasskeyFlowError> for ApiError {
    fn from(e: PasskeyFlowError) -> Self {
        match e {
            PasskeyFlowError::AlreadyRegistered => Self::PasskeyRegistered,
            PasskeyFlowError::TooMany => Self::TooManyPasskeys,
            PasskeyFlowError::Storage(e) => e.into(),
            refused => {
                eprintln!("passkey refused: {refused}");
                Self::PasskeyRejected
            }
        }
    }
}

impl From<ResetError> for ApiError {
    fn from(e: ResetError) -> Self {
        match e {
            ResetError::InvalidToken => Self::InvalidToken,
            ResetError::EmailTaken => Self::EmailTaken,
            ResetError::Password(e) => e.into(),
            ResetError::Storage(e) => e.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Invalid(errors) => Self::Validation(errors),
            RegisterError::EmailTaken => Self::EmailTaken,
            RegisterError::Storage(e) => e.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl ApiError {
    /// Whether an unexpected failure was, underneath whatever context it
    /// gathered on the way, the database being unavailable: then it is
    /// answered as [`ApiError::Unavailable`], not as a 500.
    pub fn is_unavailable(cause: &anyhow::Error) -> bool {
        cause
            .chain()
            .any(|e| matches!(e.downcast_ref(), Some(RepoError::Unavailable(_))))
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidJson(_) | Self::InvalidToken | Self::PasskeyRejected => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden | Self::PasswordChangeRequired | Self::OriginNotAllowed => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::EmailTaken
            | Self::IdempotencyKeyInUse
            | Self::EditConflict
            | Self::LastAdmin
            | Self::SecondFactorEnabled
            | Self::SecondFactorNotEnabled
            | Self::PasskeyRegistered
            | Self::TooManyPasskeys
            | Self::TaskNotDead => 409,
            Self::PreconditionFailed => 412,
            Self::IdempotencyKeyReused => 422,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType { .. } => 415,
            Self::Validation(_) => 422,
            Self::RateLimited { .. } | Self::SecondFactorLocked { .. } => 429,
            Self::NotReady { .. } | Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    fn code_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Self::InvalidJson(_) => ("invalid-json", "Invalid JSON"),
            Self::InvalidToken => ("invalid-token", "Invalid Token"),
            Self::Unauthorized(_) => ("unauthorized", "Unauthorized"),
            Self::Forbidden => ("forbidden", "Forbidden"),
            Self::PasswordChangeRequired => {
                ("password-change-required", "Password Change Required")
            }
            Self::OriginNotAllowed => ("origin-not-allowed", "Origin Not Allowed"),
            Self::NotFound => ("not-found", "Not Found"),
            Self::MethodNotAllowed { .. } => ("method-not-allowed", "Method Not Allowed"),
            Self::EmailTaken => ("email-taken", "Email Already Registered"),
            Self::IdempotencyKeyInUse => ("idempotency-key-in-use", "Request In Progress"),
            Self::EditConflict => ("edit-conflict", "Edit Conflict"),
            Self::LastAdmin => ("last-admin", "Last Administrator"),
            Self::TaskNotDead => ("task-not-dead", "Task Not Dead"),
            Self::PasskeyRejected => ("passkey-rejected", "Passkey Rejected"),
            Self::PasskeyRegistered => ("passkey-registered", "Passkey Registered"),
            Self::TooManyPasskeys => ("too-many-passkeys", "Too Many Passkeys"),
            Self::SecondFactorEnabled => ("second-factor-enabled", "Second Factor Enabled"),
            Self::SecondFactorNotEnabled => {
                ("second-factor-not-enabled", "Second Factor Not Enabled")
            }
            Self::SecondFactorLocked { .. } => ("second-factor-locked", "Second Factor Locked"),
            Self::PreconditionFailed => ("precondition-failed", "Precondition Failed"),
            Self::IdempotencyKeyReused => ("idempotency-key-reused", "Idempotency Key Reused"),
            Self::PayloadTooLarge { .. } => ("payload-too-large", "Content Too Large"),
            Self::UnsupportedMediaType { .. } => {
                ("unsupported-media-type", "Unsupported Media Type")
            }
            Self::Validation(_) => ("validation-failed", "Validation Failed"),
            Self::RateLimited { .. } => ("rate-limited", "Too Many Requests"),
            Self::NotReady { .. } => ("not-ready", "Service Not Ready"),
            Self::Unavailable(_) => ("unavailable", "Service Unavailable"),
            Self::Internal(_) => ("internal", "Internal Server Error"),
        }
    }

    /// The problem body for this error. Never includes an internal cause.
    pub fn problem(&self) -> Problem {
        let (code, title) = self.code_and_title();
        let detail = match self {
            Self::InvalidJson(reason) => {
                format!("The request body is not valid JSON for this endpoint: {reason}")
            }
            Self::Unauthorized(_) => "Valid credentials are required.".to_owned(),
            Self::InvalidToken => {
                "The token is not valid: it may be mistyped, used already, or expired. Ask for a new one.".to_owned()
            }
            Self::Forbidden => "You are not allowed to do this.".to_owned(),
            Self::PasswordChangeRequired => {
                "Choose a new password with PATCH /users/me before using this account.".to_owned()
            }
            Self::OriginNotAllowed => {
                "This origin may not call the API from a browser.".to_owned()
            }
            Self::NotFound => "The requested resource does not exist.".to_owned(),
            Self::EmailTaken => "An account with this email address already exists.".to_owned(),
            Self::IdempotencyKeyInUse => {
                "A request with this Idempotency-Key is still being processed; retry later."
                    .to_owned()
            }
            Self::IdempotencyKeyReused => {
                "This Idempotency-Key was used with a different request body.".to_owned()
            }
            Self::EditConflict => {
                "The resource changed while this request was changing it; nothing was written. Read it again and retry.".to_owned()
            }
            Self::LastAdmin => {
                "This would leave no active administrator; promote another one first.".to_owned()
            }
            Self::PasskeyRejected => {
                "The passkey did not verify, or answered a challenge that is unknown, spent, expired or another ceremony's; ask for new options.".to_owned()
            }
            Self::PasskeyRegistered => "This passkey is registered already.".to_owned(),
            Self::TooManyPasskeys => format!(
                "The account holds {MAX_PASSKEYS} passkeys; remove one before adding another."
            ),
            Self::SecondFactorEnabled => {
                "A second factor is on already; turn it off before enrolling another.".to_owned()
            }
            Self::SecondFactorNotEnabled => {
                "The account has no second factor on, or no enrolment to confirm.".to_owned()
            }
            Self::SecondFactorLocked { .. } => {
                "Too many wrong codes in a row: the second factor is locked; retry after the time in Retry-After.".to_owned()
            }
            Self::TaskNotDead => {
                "Only a dead task can be retried; this one is still queued, running or done.".to_owned()
            }
            Self::PreconditionFailed => {
                "If-Match names no current representation of the resource; nothing was written.".to_owned()
            }
            Self::PayloadTooLarge { limit } => format!("The request body exceeds {limit} bytes."),
            Self::UnsupportedMediaType { accept } => {
                format!("Send the body as {}.", accept.join(" or "))
            }
            Self::Validation(errors) => format!("{} field(s) are invalid.", errors.0.len()),
            Self::RateLimited { .. } => {
                "Too many requests; retry after the time in Retry-After.".to_owned()
            }
            Self::MethodNotAllowed { allow } => format!(
                "This resource supports {}.",
                crate::response::allowed_methods(allow).join(", ")
            ),
            Self::NotReady { .. } => "A dependency of the service is unavailable.".to_owned(),
            Self::Unavailable(_) => {
                "A store the request needs (the database, or the cache a write must update) is unavailable for now. Retry after the time in Retry-After.".to_owned()
            }
            Self::Internal(_) => "The server could not complete the request.".to_owned(),
        };
        let extensions = match self {
            Self::NotReady { extensions } => extensions.clone(),
            Self::Validation(errors) => {
                let mut map = Map::new();
                map.insert(
                    "errors".into(),
                    serde_json::to_value(&errors.0).unwrap_or(Value::Null),
                );
                map
            }
            _ => Map::new(),
        };
        Problem {
            type_uri: format!("{PROBLEM_TYPE_PREFIX}{code}"),
            title,
            status: self.status(),
            detail,
            code,
            extensions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi as _;

    #[test]
    fn internal_errors_never_reveal_their_cause() {
        let err = ApiError::Internal(anyhow::anyhow!(
            "no such table: users (SELECT * FROM users)"
        ));
        let body = serde_json::to_string(&err.problem()).expect("serialises");
        assert!(!body.contains("no such table"), "{body}");
        assert!(!body.contains("SELECT"), "{body}");
        assert!(body.contains("urn:spin-users:problem:internal"), "{body}");
    }

    #[test]
    fn every_problem_type_is_the_prefix_plus_its_code() {
        let errors = [
            ApiError::InvalidJson("x".into()),
            ApiError::Unauthorized("x"),
            ApiError::Forbidden,
            ApiError::PasswordChangeRequired,
            ApiError::OriginNotAllowed,
            ApiError::Validation(ValidationErrors(vec![FieldError::new(
                "email", "invalid", "x",
            )])),
            ApiError::EmailTaken,
            ApiError::InvalidToken,
            ApiError::IdempotencyKeyInUse,
            ApiError::IdempotencyKeyReused,
            ApiError::EditConflict,
            ApiError::LastAdmin,
            ApiError::TaskNotDead,
            ApiError::PreconditionFailed,
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::UnsupportedMediaType {
                accept: &["application/json"],
            },
            ApiError::Validation(ValidationErrors::default()),
            ApiError::RateLimited { headers: vec![] },
            ApiError::SecondFactorEnabled,
            ApiError::SecondFactorNotEnabled,
            ApiError::SecondFactorLocked { until: 1 },
            ApiError::PasskeyRejected,
            ApiError::PasskeyRegistered,
            ApiError::TooManyPasskeys,
            ApiError::NotFound,
            ApiError::MethodNotAllowed {
                allow: vec![Method::Get],
            },
            ApiError::NotReady {
                extensions: Map::new(),
            },
            ApiError::Unavailable("too many clients".into()),
            ApiError::Internal(anyhow::anyhow!("x")),
        ];
        // The members the OpenAPI document declares for a problem.
        let doc = serde_json::to_value(spin_users_api::ApiDoc::openapi()).expect("document");
        let declared = doc["components"]["schemas"]["ProblemDetails"]["properties"]
            .as_object()
            .expect("ProblemDetails properties")
            .clone();
        let mut produced = Vec::new();
        for err in errors {
            let p = err.problem();
            produced.push(p.code);
            assert_eq!(p.type_uri, format!("{PROBLEM_TYPE_PREFIX}{}", p.code));
            assert_eq!(p.status, err.status());
            let documented = spin_users_api::problem_type(p.code)
                .unwrap_or_else(|| panic!("{} is in the catalogue", p.code));
            assert_eq!((documented.status, documented.title), (p.status, p.title));
            let json = serde_json::to_value(&p).expect("serialises");
            for member in json.as_object().expect("object").keys() {
                assert!(declared.contains_key(member), "{member} is documented");
            }
        }
        for documented in spin_users_api::PROBLEM_TYPES {
            assert!(
                produced.contains(&documented.code),
                "{} is produced",
                documented.code
            );
        }
    }

    #[test]
    fn an_unavailable_database_is_recognised_under_any_context_but_not_by_its_words() {
        let wrapped =
            anyhow::Error::new(RepoError::Unavailable("refused".into())).context("loading user");
        assert!(ApiError::is_unavailable(&wrapped));
        assert!(!ApiError::is_unavailable(&anyhow::anyhow!(
            "storage unavailable: refused"
        )));
        assert!(!ApiError::is_unavailable(&anyhow::Error::new(
            RepoError::Storage("disk full".into())
        )));
    }

    #[test]
    fn extensions_are_top_level_members() {
        let mut extensions = Map::new();
        extensions.insert("checks".into(), serde_json::json!({"database": "down"}));
        let p = ApiError::NotReady { extensions }.problem();
        let json = serde_json::to_value(&p).expect("serialises");
        assert_eq!(json["checks"]["database"], "down");
        assert_eq!(json["status"], 503);
    }

    #[test]
    fn validation_problems_list_each_field() {
        let errors = ValidationErrors(vec![spin_users_domain::FieldError::new(
            "email", "invalid", "bad",
        )]);
        let json =
            serde_json::to_value(ApiError::Validation(errors).problem()).expect("serialises");
        assert_eq!(json["errors"][0]["field"], "email");
        assert_eq!(json["errors"][0]["code"], "invalid");
        assert_eq!(json["status"], 422);
    }

    #[test]
    fn unauthorized_reasons_stay_out_of_the_body() {
        let json = serde_json::to_string(&ApiError::Unauthorized("expired token").problem())
            .expect("serialises");
        assert!(!json.contains("expired"), "{json}");
    }

    #[test]
    fn method_not_allowed_names_the_allowed_methods() {
        let p = ApiError::MethodNotAllowed {
            allow: vec![Method::Get, Method::Post],
        }
        .problem();
        assert!(p.detail.contains("GET, HEAD, POST"), "{}", p.detail);
    }
}
