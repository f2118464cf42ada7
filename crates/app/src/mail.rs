//! Mail through the job queue: each message is a job of kind `email`
//! whose attempt renders it and delivers it as a signed event to
//! `webhook_url` (`spin_users_domain::MailEvent`), retried with the same
//! `webhook-id` until it is `dead`.
//!
//! A password-reset job names only the address asked for. Whether an
//! enabled account has it is found out by the job, after the request has
//! answered, so `POST /password/forgot` does the same work in the same
//! time for every address. Its token is derived from the job's id and a
//! random nonce in its payload (`OneTimeKey`), and only the token's hash is
//! stored: the job's payload holds no secret, and a retry mails the very
//! same token.

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use spin_users_domain::{
    Counter, DEFAULT_PASSWORD_RESET_LIFETIME_SECS, Email, Job, JobFailure, JobKind, MailEvent,
    MailKind, OneTimeKey, OneTimeToken, OneTimeTokens, Purpose, Random, User, UserId,
    UserRepository, VERIFICATION_LIFETIME_SECS, one_time_token_hash, render_mail,
};
use spin_users_store::{SqlOneTimeTokens, SqlUsers};

use crate::config::{Context, number, optional, service_name};
use crate::jobs::{deliver, enqueue};
use crate::metrics::count;

/// What an `email` job sends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "mail", rename_all = "snake_case")]
enum MailJob {
    /// A reset link, if an enabled account has `address`.
    PasswordReset { address: String },
    /// The notice that the password of `user_id` was reset.
    PasswordChanged { user_id: String },
    /// A link proving `address` is the account `user_id`'s.
    Verification { user_id: String, address: String },
    /// The notice that someone tried to register the address of the
    /// account that has it.
    AccountExists { address: String },
    /// The link to `to` that moves the account `user_id` there from `from`.
    ChangeConfirmation {
        user_id: String,
        from: String,
        to: String,
    },
    /// The notice to `from` that a move to `to` was asked for.
    ChangeRequested {
        user_id: String,
        from: String,
        to: String,
    },
}

/// An `email` job's payload: the mail, and 128 random bits that, with
/// the job's id, make its token (`OneTimeKey`). Not secret on its own:
/// deriving the token needs the key.
#[derive(Debug, Serialize, Deserialize)]
struct MailPayload {
    #[serde(flatten)]
    mail: MailJob,
    nonce: String,
}

/// Queues `mail` as an `email` job owned by `owner`.
fn enqueue_mail(ctx: &Context, mail: MailJob, owner: Option<&str>) -> Result<()> {
    let mut bytes = [0u8; 16];
    let mut random = ctx.random;
    random.fill(&mut bytes);
    let nonce = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let payload = serde_json::to_string(&MailPayload { mail, nonce })?;
    enqueue(ctx, JobKind::Email, payload, owner)?;
    Ok(())
}

/// Queues `mail` if it can leave at all: without `webhook_url` there is
/// nowhere to send it, and nothing is queued (the log says so).
fn queue(ctx: &Context, mail: MailJob, owner: Option<&str>) -> Result<()> {
    if !mail_enabled()? {
        eprintln!("mail: webhook_url is not set, so no mail is sent");
        return Ok(());
    }
    enqueue_mail(ctx, mail, owner)
}

/// [`queue`], a failure logged as `what` rather than returned: what the
/// mail follows has happened either way.
fn queue_logged(ctx: &Context, mail: MailJob, owner: Option<&str>, what: &str) {
    if let Err(e) = queue(ctx, mail, owner) {
        eprintln!("mail: could not queue {what}: {e:#}");
    }
}

/// Queues the reset mail for `address`, whoever has it.
pub fn enqueue_password_reset(ctx: &Context, address: &Email) -> Result<()> {
    let address = address.to_string();
    queue(ctx, MailJob::PasswordReset { address }, None)
}

/// Queues the notice that `user`'s password was reset (logged if it
/// fails: the password is reset either way).
pub fn enqueue_password_changed(ctx: &Context, user: &User) {
    let user_id = user.id.to_string();
    let mail = MailJob::PasswordChanged { user_id };
    queue_logged(
        ctx,
        mail,
        Some(user.id.as_ref()),
        "the password-changed notice",
    );
}

/// Queues a verification mail to `user`'s address (after registration,
/// or asked for again; logged if it fails).
pub fn enqueue_verification(ctx: &Context, user: &User) {
    let mail = MailJob::Verification {
        user_id: user.id.to_string(),
        address: user.email.to_string(),
    };
    queue_logged(ctx, mail, Some(user.id.as_ref()), "the verification mail");
}

/// Queues the notice to whoever has `address` that someone tried to
/// register it (logged if it fails: the answer is the same).
pub fn enqueue_account_exists(ctx: &Context, address: &Email) {
    let address = address.to_string();
    let mail = MailJob::AccountExists { address };
    queue_logged(ctx, mail, None, "the account-exists notice");
}

/// Queues the two mails of an e-mail change: the confirmation to the new
/// address and the notice to the old one. Only called with mail enabled
/// ([`mail_enabled`]): without it the change is immediate.
pub fn enqueue_email_change(ctx: &Context, user: &User, to: &Email) -> Result<()> {
    let (user_id, from, to) = (user.id.to_string(), user.email.to_string(), to.to_string());
    let owner = Some(user.id.as_ref());
    let confirmation = MailJob::ChangeConfirmation {
        user_id: user_id.clone(),
        from: from.clone(),
        to: to.clone(),
    };
    enqueue_mail(ctx, confirmation, owner)?;
    let notice = MailJob::ChangeRequested { user_id, from, to };
    enqueue_mail(ctx, notice, owner)?;
    Ok(())
}

/// Whether mail can be sent: e-mail changes wait for a confirmation only
/// then.
pub fn mail_enabled() -> Result<bool> {
    Ok(optional("webhook_url")?.is_some())
}

/// One attempt of an `email` job: its result, or why it failed. A job
/// with nobody to write to (no enabled account at the address, an account
/// deleted since) succeeds without sending.
pub(crate) fn run(ctx: &Context, job: &Job, now: i64) -> Result<String, JobFailure> {
    let internal = |e: anyhow::Error| JobFailure::internal(format!("{e:#}"));
    let MailPayload { mail, nonce } = serde_json::from_str(&job.payload)
        .context("email payload")
        .map_err(internal)?;
    let prepared = match mail {
        MailJob::PasswordReset { address } => reset_mail(ctx, job, &nonce, &address, now),
        MailJob::PasswordChanged { user_id } => changed_mail(ctx, &user_id, now),
        MailJob::AccountExists { address } => exists_mail(ctx, &address, now),
        MailJob::ChangeConfirmation { user_id, from, to } => {
            change_mail(ctx, (job, &nonce), &user_id, &from, &to, true, now)
        }
        MailJob::ChangeRequested { user_id, from, to } => {
            change_mail(ctx, (job, &nonce), &user_id, &from, &to, false, now)
        }
        MailJob::Verification { user_id, address } => {
            verification_mail(ctx, job, &nonce, &user_id, &address, now)
        }
    }
    .map_err(internal)?;
    let Some((kind, event)) = prepared else {
        return Ok(r#"{"sent":false}"#.to_owned());
    };
    let body = serde_json::to_vec(&event)
        .context("mail event")
        .map_err(internal)?;
    let result = deliver(job.id.as_ref(), body, now)?;
    count(ctx, Counter::Email(kind));
    Ok(result)
}

/// The reset mail of the job: a token bound to the account and its
/// address, valid for `password_reset_lifetime` from the request.
fn reset_mail(
    ctx: &Context,
    job: &Job,
    nonce: &str,
    address: &str,
    now: i64,
) -> Result<Option<(MailKind, MailEvent)>> {
    let Ok(email) = Email::parse(address) else {
        return Ok(None);
    };
    let users = SqlUsers::new(ctx.db.as_ref());
    let Some((user, _)) = users.by_email(&email)? else {
        return Ok(None);
    };
    let lifetime = number(
        "password_reset_lifetime",
        DEFAULT_PASSWORD_RESET_LIFETIME_SECS,
    )?;
    let expires_at = job.created_at + i64::from(lifetime);
    if user.disabled || expires_at <= now {
        return Ok(None);
    }
    let mail = TokenMail {
        kind: MailKind::PasswordReset,
        user: &user,
        to: &user.email,
        expires_at,
        lifetime: ("minutes", (lifetime / 60).max(1).to_string()),
    };
    token_mail(ctx, (job, nonce), mail, now).map(Some)
}

/// The verification mail of the job, if the account still has the
/// address and has not proven it yet: a token valid for 24 hours from the
/// request.
fn verification_mail(
    ctx: &Context,
    job: &Job,
    nonce: &str,
    user_id: &str,
    address: &str,
    now: i64,
) -> Result<Option<(MailKind, MailEvent)>> {
    let id = UserId::parse(user_id).context("email payload: user id")?;
    let Some(user) = SqlUsers::new(ctx.db.as_ref()).by_id(&id)? else {
        return Ok(None);
    };
    let expires_at = job.created_at + VERIFICATION_LIFETIME_SECS;
    if user.email.as_ref() != address || user.email_verified || expires_at <= now {
        return Ok(None);
    }
    let mail = TokenMail {
        kind: MailKind::Verification,
        user: &user,
        to: &user.email,
        expires_at,
        lifetime: ("hours", (VERIFICATION_LIFETIME_SECS / 3600).to_string()),
    };
    token_mail(ctx, (job, nonce), mail, now).map(Some)
}

/// A mail that carries a one-time token: its kind, whom it greets, the
/// address it goes to (which the token is bound to), until when the token
/// lives, and the `{{minutes}}` or `{{hours}}` that says so.
struct TokenMail<'a> {
    kind: MailKind,
    user: &'a User,
    to: &'a Email,
    expires_at: i64,
    lifetime: (&'static str, String),
}

/// The event of `mail`: a token derived for the job (`minted`: its id and
/// nonce), stored by its hash, and the link that spends it.
fn token_mail(
    ctx: &Context,
    minted: (&Job, &str),
    mail: TokenMail<'_>,
    now: i64,
) -> Result<(MailKind, MailEvent)> {
    let (purpose, page) = match mail.kind {
        MailKind::PasswordReset => (Purpose::PasswordReset, "reset-password"),
        MailKind::Verification => (Purpose::Verification, "verify-email"),
        MailKind::ChangeConfirmation => (Purpose::EmailChange, "confirm-email"),
        other => anyhow::bail!("{} carries no token", other.event_type()),
    };
    let secret = optional("webhook_secret")?.context("webhook_secret is not set")?;
    let (job, nonce) = minted;
    let id = format!("{}:{nonce}", job.id.as_ref());
    let token = OneTimeKey::derive(secret.trim().as_bytes()).token(purpose, &id);
    let stored = OneTimeToken {
        token_hash: one_time_token_hash(&token).context("a derived token")?,
        purpose,
        user_id: mail.user.id.clone(),
        address: mail.to.to_string(),
        expires_at: mail.expires_at,
    };
    SqlOneTimeTokens::new(ctx.db.as_ref()).store(&stored, now)?;
    let link = format!("{}/{page}?token={token}", link_base()?);
    let (lifetime_name, lifetime) = &mail.lifetime;
    let message = render_mail(
        mail.kind,
        &[
            ("service_name", &service_name()?),
            ("name", mail.user.name.as_ref()),
            ("link", &link),
            ("token", &token),
            (lifetime_name, lifetime),
        ],
    );
    let event = MailEvent::new(mail.kind, mail.user, message, Some(token), Some(link), now)
        .sent_to(mail.to.as_ref());
    Ok((mail.kind, event))
}

/// A mail of an e-mail change of `user_id` from `from` to `to`, while the
/// account still has `from`: the confirmation (a token for `to`, valid
/// 24 hours from the request) or the notice to `from`.
fn change_mail(
    ctx: &Context,
    minted: (&Job, &str),
    user_id: &str,
    from: &str,
    to: &str,
    confirmation: bool,
    now: i64,
) -> Result<Option<(MailKind, MailEvent)>> {
    let id = UserId::parse(user_id).context("email payload: user id")?;
    let Some(user) = SqlUsers::new(ctx.db.as_ref()).by_id(&id)? else {
        return Ok(None);
    };
    let expires_at = minted.0.created_at + VERIFICATION_LIFETIME_SECS;
    if user.email.as_ref() != from || user.disabled || expires_at <= now {
        return Ok(None);
    }
    if !confirmation {
        let message = render_mail(
            MailKind::ChangeRequested,
            &[
                ("service_name", &service_name()?),
                ("name", user.name.as_ref()),
                ("new_address", to),
            ],
        );
        let event = MailEvent::new(MailKind::ChangeRequested, &user, message, None, None, now);
        return Ok(Some((MailKind::ChangeRequested, event)));
    }
    let to = Email::parse(to).context("email payload: new address")?;
    let mail = TokenMail {
        kind: MailKind::ChangeConfirmation,
        user: &user,
        to: &to,
        expires_at,
        lifetime: ("hours", (VERIFICATION_LIFETIME_SECS / 3600).to_string()),
    };
    token_mail(ctx, minted, mail, now).map(Some)
}

/// The notice to the account that has `address`, if one still does.
fn exists_mail(ctx: &Context, address: &str, now: i64) -> Result<Option<(MailKind, MailEvent)>> {
    let Ok(email) = Email::parse(address) else {
        return Ok(None);
    };
    let Some((user, _)) = SqlUsers::new(ctx.db.as_ref()).by_email(&email)? else {
        return Ok(None);
    };
    let message = render_mail(
        MailKind::AccountExists,
        &[
            ("service_name", &service_name()?),
            ("name", user.name.as_ref()),
        ],
    );
    let event = MailEvent::new(MailKind::AccountExists, &user, message, None, None, now);
    Ok(Some((MailKind::AccountExists, event)))
}

/// The notice to the account `user_id`, if it still exists.
fn changed_mail(ctx: &Context, user_id: &str, now: i64) -> Result<Option<(MailKind, MailEvent)>> {
    let id = UserId::parse(user_id).context("email payload: user id")?;
    let Some(user) = SqlUsers::new(ctx.db.as_ref()).by_id(&id)? else {
        return Ok(None);
    };
    let message = render_mail(
        MailKind::PasswordChanged,
        &[
            ("service_name", &service_name()?),
            ("name", user.name.as_ref()),
        ],
    );
    let event = MailEvent::new(MailKind::PasswordChanged, &user, message, None, None, now);
    Ok(Some((MailKind::PasswordChanged, event)))
}

/// Where mailed links point: `app_url` (the team's own pages), else
/// `public_url`; with neither, links are paths for the relay to complete.
fn link_base() -> Result<String> {
    let base = match optional("app_url")? {
        Some(url) => Some(url),
        None => optional("public_url")?,
    };
    Ok(base
        .map(|url| url.trim().trim_end_matches('/').to_owned())
        .unwrap_or_default())
}
