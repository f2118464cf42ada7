//! What clients see of a user.

use serde::Serialize;
use spin_users_domain::{Job, LiveSession, Role, User, UserId, rfc3339};
use utoipa::ToSchema;

/// A user as the user themself and admins see them.
#[derive(Serialize, ToSchema)]
pub struct PrivateView<'a> {
    /// The user's id (a random UUID).
    #[schema(value_type = String, format = "uuid")]
    id: &'a UserId,
    /// Normalised email address.
    #[schema(value_type = String, format = Email)]
    email: &'a str,
    /// Display name (NFC).
    #[schema(value_type = String)]
    name: &'a str,
    /// Roles: always `user`, and `admin` for administrators.
    #[schema(value_type = Vec<crate::bodies::RoleName>, example = json!(["user"]))]
    roles: &'a [Role],
    /// Disabled accounts cannot log in.
    disabled: bool,
    /// Whether the owner proved the address is theirs (a mailed
    /// verification or reset token).
    email_verified: bool,
    /// Whether a second factor (TOTP) is on: logins then need a code, and
    /// so do changes of the password, the email, the factor, and deletion.
    mfa_enabled: bool,
    /// `true` while the account must choose a new password before anything
    /// but `GET`/`PATCH /users/me` and `POST /logout` (the bootstrap admin
    /// after its first login).
    password_change_required: bool,
    /// RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    updated_at: String,
}

/// A user as other users see them: no email, no account state.
#[derive(Serialize, ToSchema)]
pub struct PublicView<'a> {
    /// The user's id.
    #[schema(value_type = String, format = "uuid")]
    id: &'a UserId,
    /// Display name.
    #[schema(value_type = String)]
    name: &'a str,
}

/// One page of an admin listing.
#[derive(Serialize, ToSchema)]
pub struct Page<'a> {
    /// The users on this page.
    pub items: Vec<PrivateView<'a>>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The private view of `user`.
pub fn private_view(user: &User) -> PrivateView<'_> {
    PrivateView {
        id: &user.id,
        email: user.email.as_ref(),
        name: user.name.as_ref(),
        roles: &user.roles,
        disabled: user.disabled,
        email_verified: user.email_verified,
        mfa_enabled: user.mfa_enabled,
        password_change_required: user.password_change_required,
        created_at: rfc3339(user.created_at),
        updated_at: rfc3339(user.updated_at),
    }
}

/// The public view of `user`.
pub fn public_view(user: &User) -> PublicView<'_> {
    PublicView {
        id: &user.id,
        name: user.name.as_ref(),
    }
}

/// What one `POST /jobs/drain` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct DrainReport {
    /// Jobs claimed.
    pub claimed: u32,
    /// Of those, done.
    pub succeeded: u32,
    /// Of those, to be retried later.
    pub failed: u32,
    /// Out of attempts (including jobs whose lease lapsed on their last attempt).
    pub dead: u32,
}

/// A job's state, as views and filters name it.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for its first attempt.
    Queued,
    /// A worker holds it.
    Running,
    /// Done; the view carries its result.
    Succeeded,
    /// The last attempt failed; it runs again after a backoff.
    Failed,
    /// Out of attempts; an administrator may retry it.
    Dead,
}

/// A job's kind, as views and filters name it.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum TaskKind {
    /// The `user.created` webhook.
    Welcome,
    /// A user's data export.
    Export,
    /// Housekeeping.
    Purge,
    /// A mail event (`email.*`) to `webhook_url`.
    Email,
}

/// A background job as its owner and admins see it.
#[derive(Serialize, ToSchema)]
pub struct TaskView {
    /// The job's id (a random UUID).
    #[schema(format = "uuid")]
    id: String,
    /// What it does.
    #[schema(value_type = TaskKind)]
    kind: &'static str,
    /// Where it is.
    #[schema(value_type = TaskState)]
    state: &'static str,
    /// Attempts so far.
    attempts: u32,
    /// Attempts before it is `dead`.
    max_attempts: u32,
    /// Why the last attempt failed, in words safe to show (the detail is in
    /// the service's log); cleared by a success.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    /// What it produced, once `succeeded` (an export: the data).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    result: Option<serde_json::Value>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    updated_at: String,
}

/// What a client sees of `job`.
pub fn task_view(job: &Job) -> TaskView {
    TaskView {
        id: job.id.as_ref().to_owned(),
        kind: job.kind.as_str(),
        state: job.state.as_str(),
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        last_error: job.last_error.clone(),
        result: job
            .result
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok()),
        created_at: rfc3339(job.created_at),
        updated_at: rfc3339(job.updated_at),
    }
}

/// One page of `GET /tasks`.
#[derive(Serialize, ToSchema)]
pub struct TaskPage {
    /// The jobs on this page, oldest first.
    pub items: Vec<TaskView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A live session as its owner sees it (`GET /users/me/sessions`): where
/// and when, never a token.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// The session id: `sid` in its access tokens, and what
    /// `DELETE /users/me/sessions/{id}` ends.
    id: String,
    /// The login, RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// The last login or refresh, RFC 3339.
    #[schema(format = DateTime)]
    last_used_at: String,
    /// The `User-Agent` the login came with (printable, at most 256
    /// characters); `null` when it sent none.
    user_agent: Option<String>,
    /// `true` for the session of the access token making the request.
    current: bool,
}

/// What the owner sees of `session`; `current` when the request's access
/// token names it.
pub fn session_view(session: &LiveSession, current: Option<&str>) -> SessionView {
    SessionView {
        id: session.id.clone(),
        created_at: rfc3339(session.created_at),
        last_used_at: rfc3339(session.last_used_at),
        user_agent: session.user_agent.clone(),
        current: current == Some(session.id.as_str()),
    }
}

/// One page of `GET /users/me/sessions`.
#[derive(Serialize, ToSchema)]
pub struct SessionPage {
    /// The live sessions on this page, newest first.
    pub items: Vec<SessionView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
