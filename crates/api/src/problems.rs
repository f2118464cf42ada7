//! The problem types (RFC 9457) every error answer but `/token`'s uses: the
//! catalogue clients and the OpenAPI document read, and the body's schema.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// Prefix of every problem `type`.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:spin-users:problem:";

/// One problem type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemType {
    /// The stable code: the `code` member and the end of `type`.
    pub code: &'static str,
    /// The HTTP status it comes with.
    pub status: u16,
    /// The `title` member.
    pub title: &'static str,
    /// When it happens and what to do.
    pub description: &'static str,
}

const fn problem(
    code: &'static str,
    status: u16,
    title: &'static str,
    description: &'static str,
) -> ProblemType {
    ProblemType {
        code,
        status,
        title,
        description,
    }
}

/// Every problem type, in status order.
pub const PROBLEM_TYPES: &[ProblemType] = &[
    problem(
        "invalid-json",
        400,
        "Invalid JSON",
        "The body is not UTF-8 JSON of the shape the endpoint expects (unknown fields included). The input is never echoed.",
    ),
    problem(
        "invalid-token",
        400,
        "Invalid Token",
        "A mailed one-time token (`POST /password/reset`, `POST /email/verify`) that is made up, used already, expired, meant for something else, or whose account was disabled or changed its address since: one answer for all. Ask for a new one.",
    ),
    problem(
        "passkey-rejected",
        400,
        "Passkey Rejected",
        "A passkey registration (`POST /users/me/passkeys`) that failed WebAuthn verification: its challenge is unknown, spent, expired or another ceremony's (each lives 5 minutes, once), or a check of WebAuthn L3 §7.1 failed (client data type, origin, relying party, user presence and verification, attestation `none`, key algorithm). The reason is logged, never sent. Ask for new options.",
    ),
    problem(
        "unauthorized",
        401,
        "Unauthorized",
        "No bearer token, or one that is malformed, expired, revoked, or for a disabled or deleted account; the reason is logged, never sent. Comes with `WWW-Authenticate: Bearer`.",
    ),
    problem(
        "forbidden",
        403,
        "Forbidden",
        "Authenticated, but the route is for administrators.",
    ),
    problem(
        "password-change-required",
        403,
        "Password Change Required",
        "The account must choose a new password first (the bootstrap admin after its first login): until `PATCH /users/me` sets one, only `GET`/`PATCH /users/me` and `POST /logout` are open to it.",
    ),
    problem(
        "origin-not-allowed",
        403,
        "Origin Not Allowed",
        "A CORS preflight from an origin `cors_allowed_origins` does not list.",
    ),
    problem(
        "not-found",
        404,
        "Not Found",
        "No such resource, a malformed id, or a user the caller may not see.",
    ),
    problem(
        "method-not-allowed",
        405,
        "Method Not Allowed",
        "The resource exists; `Allow` lists its methods.",
    ),
    problem(
        "email-taken",
        409,
        "Email Already Registered",
        "Another account has this email (compared ignoring case).",
    ),
    problem(
        "idempotency-key-in-use",
        409,
        "Request In Progress",
        "A request with the same `Idempotency-Key` is still running; retry after it (at most 30 s).",
    ),
    problem(
        "edit-conflict",
        409,
        "Edit Conflict",
        "The account kept changing under three read-check-write attempts; nothing was written. Read it again and retry.",
    ),
    problem(
        "last-admin",
        409,
        "Last Administrator",
        "The change would demote, disable or delete the last active administrator.",
    ),
    problem(
        "second-factor-enabled",
        409,
        "Second Factor Enabled",
        "A second factor is on already: turn it off (`DELETE /users/me/mfa/totp`) before enrolling another.",
    ),
    problem(
        "second-factor-not-enabled",
        409,
        "Second Factor Not Enabled",
        "The account has no second factor on, or no enrolment waiting for its confirmation.",
    ),
    problem(
        "passkey-registered",
        409,
        "Passkey Registered",
        "This credential is registered already (WebAuthn L3 §7.1 step 26); `excludeCredentials` lets an authenticator say so before the user is asked.",
    ),
    problem(
        "too-many-passkeys",
        409,
        "Too Many Passkeys",
        "The account holds 20 passkeys, the most it may: remove one (`DELETE /users/me/passkeys/{id}`) first.",
    ),
    problem(
        "second-factor-locked",
        429,
        "Second Factor Locked",
        "Five wrong second factors in a row lock the account's factor for 15 minutes (apart from the password limits); `Retry-After` says when it opens.",
    ),
    problem(
        "task-not-dead",
        409,
        "Task Not Dead",
        "Only a `dead` task (out of attempts) can be retried.",
    ),
    problem(
        "precondition-failed",
        412,
        "Precondition Failed",
        "`If-Match` names no current representation; nothing was written.",
    ),
    problem(
        "payload-too-large",
        413,
        "Content Too Large",
        "The body is over 16 KiB.",
    ),
    problem(
        "unsupported-media-type",
        415,
        "Unsupported Media Type",
        "The body's `Content-Type` is not one the endpoint reads; `Accept` lists those.",
    ),
    problem(
        "idempotency-key-reused",
        422,
        "Idempotency Key Reused",
        "The `Idempotency-Key` was used before with a different body.",
    ),
    problem(
        "validation-failed",
        422,
        "Validation Failed",
        "Fields are invalid; `errors` lists each with a stable `code`.",
    ),
    problem(
        "rate-limited",
        429,
        "Too Many Requests",
        "Over a rate limit or locked out; `Retry-After`, `RateLimit` and `RateLimit-Policy` say for how long.",
    ),
    problem(
        "internal",
        500,
        "Internal Server Error",
        "Something failed on the server; the cause is logged, never sent.",
    ),
    problem(
        "not-ready",
        503,
        "Service Not Ready",
        "`/readyz`: a dependency is down; `checks` says which.",
    ),
    problem(
        "unavailable",
        503,
        "Service Unavailable",
        "The database refused or failed a connection (out of connections, starting up, unreachable), and nothing was done; or the Redis cache a write must update could not be reached: refused before the write when Redis was already unreachable, otherwise after it (the write stands, a retry repeats it). `Retry-After` says when to try again.",
    ),
];

/// The problem type with `code`.
pub fn problem_type(code: &str) -> Option<&'static ProblemType> {
    PROBLEM_TYPES.iter().find(|p| p.code == code)
}

/// An RFC 9457 problem details body (`application/problem+json`).
#[derive(Serialize, ToSchema)]
pub struct ProblemDetails {
    /// `urn:spin-users:problem:<code>`: match on this (or `code`).
    #[serde(rename = "type")]
    #[schema(example = "urn:spin-users:problem:validation-failed")]
    pub type_uri: String,
    /// The type's title.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened, for people.
    pub detail: String,
    /// The stable code: the end of `type`.
    #[schema(example = "validation-failed")]
    pub code: String,
    /// `validation-failed`: each invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldProblem>>,
    /// `not-ready`: each dependency's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<BTreeMap<String, CheckState>>,
}

/// One invalid field.
#[derive(Serialize, ToSchema)]
pub struct FieldProblem {
    /// The request field.
    #[schema(example = "email")]
    pub field: String,
    /// Stable: `required`, `invalid`, `too_long`, `too_short`, `incorrect`, …
    #[schema(example = "invalid")]
    pub code: String,
    /// For people.
    pub message: String,
}

/// One dependency's state in `checks`.
#[derive(Serialize, ToSchema)]
pub struct CheckState {
    /// `up` or `down`.
    #[schema(example = "down")]
    pub status: String,
    /// What failed, when down.
    pub detail: Option<String>,
}

/// The catalogue as Markdown, for the document's description.
pub fn catalogue_markdown() -> String {
    let mut out = String::from("| `code` | status | meaning |\n|---|---|---|\n");
    for p in PROBLEM_TYPES {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            p.code, p.status, p.description
        ));
    }
    out
}
