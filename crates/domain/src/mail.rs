//! Mail as signed events: Spin has no SMTP client, so each message leaves
//! as a Standard Webhooks event to `webhook_url` (see `crate::webhooks`),
//! which the team's relay sends on. The event carries the message ready
//! to send (`to`, `subject`, `text`, `html`) and, for a relay with its own
//! templates, the `token` and `link` it is about.
//!
//! The messages come from the small templates in `crates/domain/templates`
//! (`<kind>.txt`, whose first line is `Subject: …`, and `<kind>.html`);
//! `{{name}}` placeholders are filled in, HTML-escaped in the HTML part.

use serde::Serialize;

use crate::time::rfc3339;
use crate::user::User;

/// A kind of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A link to choose a new password (`POST /password/forgot`).
    PasswordReset,
    /// A notice that the password was reset.
    PasswordChanged,
    /// A link to prove the address is the account's.
    Verification,
    /// A notice to an account's owner that someone tried to register its
    /// address (`email_verification = "required"`).
    AccountExists,
    /// A link to the new address that applies an e-mail change.
    ChangeConfirmation,
    /// A notice to the old address that a change was asked for.
    ChangeRequested,
}

impl MailKind {
    /// Every kind, for the metrics catalogue.
    pub const ALL: [Self; 6] = [
        Self::PasswordReset,
        Self::PasswordChanged,
        Self::Verification,
        Self::AccountExists,
        Self::ChangeConfirmation,
        Self::ChangeRequested,
    ];

    /// The event's `type`.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::PasswordReset => "email.password_reset",
            Self::PasswordChanged => "email.password_changed",
            Self::Verification => "email.verification",
            Self::AccountExists => "email.account_exists",
            Self::ChangeConfirmation => "email.change_confirmation",
            Self::ChangeRequested => "email.change_requested",
        }
    }

    fn templates(self) -> (&'static str, &'static str) {
        match self {
            Self::PasswordReset => (
                include_str!("../templates/password_reset.txt"),
                include_str!("../templates/password_reset.html"),
            ),
            Self::PasswordChanged => (
                include_str!("../templates/password_changed.txt"),
                include_str!("../templates/password_changed.html"),
            ),
            Self::Verification => (
                include_str!("../templates/verification.txt"),
                include_str!("../templates/verification.html"),
            ),
            Self::AccountExists => (
                include_str!("../templates/account_exists.txt"),
                include_str!("../templates/account_exists.html"),
            ),
            Self::ChangeConfirmation => (
                include_str!("../templates/change_confirmation.txt"),
                include_str!("../templates/change_confirmation.html"),
            ),
            Self::ChangeRequested => (
                include_str!("../templates/change_requested.txt"),
                include_str!("../templates/change_requested.html"),
            ),
        }
    }
}

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// The message of `kind` with `values` (`(placeholder, value)`) filled in.
pub fn render(kind: MailKind, values: &[(&str, &str)]) -> Message {
    let (text, html) = kind.templates();
    let fill = |template: &str, escape: bool| {
        values
            .iter()
            .fold(template.to_owned(), |out, (name, value)| {
                let value = if escape {
                    escape_html(value)
                } else {
                    (*value).to_owned()
                };
                out.replace(&format!("{{{{{name}}}}}"), &value)
            })
    };
    let text = fill(text, false);
    let (subject, body) = text.split_once('\n').unwrap_or((&text, ""));
    Message {
        subject: subject.trim_start_matches("Subject:").trim().to_owned(),
        text: body.trim_start_matches('\n').to_owned(),
        html: fill(html, true),
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The recipient, as the event names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailUser {
    /// The user id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// What a mail event carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailData {
    /// The address to send to.
    pub to: String,
    /// The one-time token the message is about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The link that spends it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The message.
    #[serde(flatten)]
    pub message: Message,
    /// Who it is for.
    pub user: MailUser,
}

/// A mail event: `{"type", "timestamp", "data"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailEvent {
    /// `email.<kind>`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// RFC 3339.
    pub timestamp: String,
    /// The message and what it is about.
    pub data: MailData,
}

impl MailEvent {
    /// The same event sent to `address` instead of the account's own (a
    /// confirmation to the address an account moves to).
    pub fn sent_to(mut self, address: &str) -> Self {
        address.clone_into(&mut self.data.to);
        self
    }

    /// The event of `kind` to `user` at `now` (seconds), with the token
    /// and link it is about.
    pub fn new(
        kind: MailKind,
        user: &User,
        message: Message,
        token: Option<String>,
        link: Option<String>,
        now: i64,
    ) -> Self {
        Self {
            kind: kind.event_type(),
            timestamp: rfc3339(now),
            data: MailData {
                to: user.email.to_string(),
                token,
                link,
                message,
                user: MailUser {
                    id: user.id.to_string(),
                    name: user.name.as_ref().to_owned(),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_filled_in_and_escaped_in_its_html() {
        let message = render(
            MailKind::PasswordReset,
            &[
                ("service_name", "Acme"),
                ("name", "<Ada & co>"),
                ("link", "https://app.test/reset-password?token=abc"),
                ("token", "abc"),
                ("minutes", "30"),
            ],
        );
        assert_eq!(message.subject, "Reset your Acme password");
        assert!(
            message.text.starts_with("Hello <Ada & co>,"),
            "{}",
            message.text
        );
        assert!(
            message
                .text
                .contains("https://app.test/reset-password?token=abc")
        );
        assert!(message.text.contains("within 30 minutes"));
        assert!(message.html.contains("Hello &lt;Ada &amp; co&gt;,"));
        assert!(!message.html.contains("{{"), "{}", message.html);
        assert!(!message.text.contains("{{"), "{}", message.text);
    }
}
