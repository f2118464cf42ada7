//! The sessions a user can see and end one by one (`GET` and `DELETE
//! /users/me/sessions`): what a session shows of itself, its id as a path
//! segment and a cursor, and how a listing is asked for and paged.
//!
//! A session is live while it has not ended and its newest refresh token
//! has not expired: every rotation records a use, and each token lives
//! [`REFRESH_TOKEN_TTL_SECS`] from its issue.

use crate::directory::{DEFAULT_PAGE, into_page, parse_listing};
use crate::sessions::{REFRESH_TOKEN_TTL_SECS, SessionRepository};
use crate::user::{CanonicalId, PageKey, RepoError, UserId};
use crate::validation::ValidationErrors;

/// Longest session id accepted: new ids are 22 characters, the families
/// of version 8 and before were UUIDs.
const MAX_SESSION_ID_CHARS: usize = 64;
/// Longest `User-Agent` kept with a session, in characters.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// A session id as it appears in a path or cursor: base64url characters
/// and hyphens only, so nothing else reaches a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// Parses `input`; `None` for anything no session id looks like.
    pub fn parse(input: &str) -> Option<Self> {
        let plausible = !input.is_empty()
            && input.len() <= MAX_SESSION_ID_CHARS
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plausible.then(|| Self(input.to_owned()))
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl CanonicalId for SessionId {
    fn parse_canonical(input: &str) -> Option<Self> {
        Self::parse(input)
    }
}

/// A live session as its owner sees it: never a token or a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    /// The session id (`sid` in its access tokens).
    pub id: String,
    /// The login, seconds since the epoch.
    pub created_at: i64,
    /// The last login or refresh.
    pub last_used_at: i64,
    /// The `User-Agent` of the login, as [`user_agent_label`] kept it.
    pub user_agent: Option<String>,
}

/// What is kept of a `User-Agent` header: control characters dropped,
/// whitespace trimmed, at most [`MAX_USER_AGENT_CHARS`]; `None` if nothing
/// remains.
pub fn user_agent_label(raw: &str) -> Option<String> {
    let kept: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_owned())
}

/// A listing of one's sessions: page size and where to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    /// Page size, 1 to 100.
    pub limit: u32,
    /// Start strictly after this session (newest first).
    pub after: Option<PageKey<SessionId>>,
}

impl SessionQuery {
    /// Parses `limit` and `cursor`; other keys are ignored.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ValidationErrors> {
        let mut query = Self {
            limit: DEFAULT_PAGE,
            after: None,
        };
        parse_listing(pairs, &mut query.limit, &mut query.after, |_, _| Ok(()))?;
        Ok(query)
    }

    /// One page of the live sessions of `user` at `now` (seconds), newest
    /// first, and the cursor of the next page when there is one.
    pub fn page(
        &self,
        repo: &dyn SessionRepository,
        user: &UserId,
        now: i64,
    ) -> Result<(Vec<LiveSession>, Option<String>), RepoError> {
        let used_after = now - REFRESH_TOKEN_TTL_SECS;
        let items = repo.live(user, used_after, self.after.as_ref(), self.limit + 1)?;
        Ok(into_page(items, self.limit, |session: &LiveSession| {
            PageKey {
                created_at: session.created_at,
                id: SessionId(session.id.clone()),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::InMemorySessions;

    #[test]
    fn session_ids_are_plain_tokens_only() {
        assert!(SessionId::parse("0193a5b2c4dAbc_-12345x").is_some());
        assert!(SessionId::parse("5d6f1c1e-3b7a-4c2e-9f0a-1b2c3d4e5f60").is_some());
        for bad in ["", "a b", "x'--", "../me", &"a".repeat(65), "é"] {
            assert_eq!(SessionId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_user_agent_is_kept_short_and_printable() {
        assert_eq!(
            user_agent_label("  Firefox/133\r\n").as_deref(),
            Some("Firefox/133")
        );
        assert_eq!(user_agent_label("\u{0}\u{7}  "), None);
        let long = user_agent_label(&"é".repeat(1000)).expect("kept");
        assert_eq!(long.chars().count(), MAX_USER_AGENT_CHARS);
    }

    #[test]
    fn the_fake_keeps_the_repository_contract() {
        crate::contract::sessions_list_newest_first_and_leave_out_ended_and_expired(
            &InMemorySessions::default(),
        );
    }
}
