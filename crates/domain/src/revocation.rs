//! Revocation that reaches access tokens at once. Access tokens are
//! stateless JWTs that live 15 minutes; refusing one before it expires needs
//! state, and the user record already travels with every authenticated
//! request (from the cache or the database). So the record carries a
//! [`SessionState`], and a token acts only if its session (`sid`, the
//! refresh-token family) is still honoured there:
//!
//! - logging out one session lists its id as revoked until every access
//!   token it can have issued has expired;
//! - logging out everywhere, or a password change (which keeps the caller's
//!   own session), cuts every session created before that instant. Session
//!   ids begin with their creation time in milliseconds, so the cut is one
//!   number however many sessions it ends.
//!
//! Disabling, deleting and demoting need nothing here: every request reads
//! the user's current flags and roles.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::random::Random;
use crate::tokens::{ACCESS_TOKEN_TTL_SECS, CLOCK_SKEW_SECS};

/// How many individually revoked sessions a record keeps; beyond that the
/// oldest are folded into a cut (which ends the user's other sessions too,
/// but only after 64 logouts in 15 minutes).
pub const MAX_REVOKED_SESSIONS: usize = 64;

/// Hex digits of the creation time that begin a session id.
const TIME_DIGITS: usize = 11;

/// A new session id: 11 hex digits of the creation time in milliseconds
/// (good until the year 5700), then 66 random bits. 22 characters.
pub fn new_session_id(now_ms: i64, random: &mut dyn Random) -> String {
    let mut bytes = [0u8; 9];
    random.fill(&mut bytes);
    let random = URL_SAFE_NO_PAD.encode(bytes);
    format!(
        "{:0width$x}{}",
        now_ms.max(0),
        &random[..11],
        width = TIME_DIGITS
    )
}

/// When the session `sid` was created, in milliseconds; 0 for ids without
/// a time (issued before ids carried one), which any cut ends.
fn created_ms(sid: &str) -> i64 {
    sid.get(..TIME_DIGITS)
        .and_then(|digits| i64::from_str_radix(digits, 16).ok())
        .unwrap_or(0)
}

/// One session revoked on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Revoked {
    sid: String,
    /// Seconds since the epoch after which no token of it can be valid.
    until: i64,
}

/// Which sessions a user's access tokens may still act for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// Sessions created before this instant (milliseconds) are ended.
    #[serde(default, skip_serializing_if = "is_zero")]
    cut_ms: i64,
    /// A session spared by the cut (the one that changed the password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kept: Option<String>,
    /// Sessions ended one by one, while their tokens could still be live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    revoked: Vec<Revoked>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl SessionState {
    /// Whether an access token of session `sid` (none for tokens issued
    /// without one) may act at `now` (seconds).
    pub fn allows(&self, sid: Option<&str>, now: i64) -> bool {
        let Some(sid) = sid else {
            return self.cut_ms == 0;
        };
        if self.revoked.iter().any(|r| r.sid == sid && r.until > now) {
            return false;
        }
        self.kept.as_deref() == Some(sid) || created_ms(sid) >= self.cut_ms
    }

    /// Ends session `sid` for access tokens (logout of one session).
    pub fn revoke(&mut self, sid: &str, now: i64) {
        self.revoked.retain(|r| r.until > now && r.sid != sid);
        self.revoked.push(Revoked {
            sid: sid.to_owned(),
            until: now + ACCESS_TOKEN_TTL_SECS as i64 + CLOCK_SKEW_SECS as i64,
        });
        if self.revoked.len() > MAX_REVOKED_SESSIONS {
            self.cut_all(now * 1000 + 999, self.kept.clone().as_deref());
        }
    }

    /// Ends every session created before `now_ms` except `keep` (logout
    /// everywhere: none; a password change: the caller's own).
    pub fn cut_all(&mut self, now_ms: i64, keep: Option<&str>) {
        self.cut_ms = self.cut_ms.max(now_ms);
        self.kept = keep.map(str::to_owned);
        let now = now_ms.div_euclid(1000);
        // Individually revoked sessions older than the cut are covered by it.
        let cut = self.cut_ms;
        self.revoked.retain(|r| {
            r.until > now && (created_ms(&r.sid) >= cut || keep == Some(r.sid.as_str()))
        });
    }

    /// The stored form: empty for the default state, else JSON.
    pub fn encode(&self) -> String {
        if *self == Self::default() {
            String::new()
        } else {
            serde_json::to_string(self).unwrap_or_default()
        }
    }

    /// Reads the stored form. Text that does not decode ends every session
    /// (fails closed) rather than honouring revoked ones.
    pub fn decode(text: &str) -> Self {
        if text.is_empty() {
            return Self::default();
        }
        serde_json::from_str(text).unwrap_or(Self {
            cut_ms: i64::MAX,
            kept: None,
            revoked: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::testing::SeededRandom;

    const T0: i64 = 1_800_000_000;

    fn session(at_ms: i64, seed: u64) -> String {
        new_session_id(at_ms, &mut SeededRandom::new(seed))
    }

    #[test]
    fn session_ids_carry_their_creation_time() {
        let sid = session(T0 * 1000 + 123, 1);
        assert_eq!(sid.len(), 22);
        assert_eq!(created_ms(&sid), T0 * 1000 + 123);
        assert_eq!(created_ms("legacy-random-id-xyz12"), 0);
        assert_ne!(sid, session(T0 * 1000 + 123, 2), "random part differs");
    }

    #[test]
    fn a_fresh_state_allows_every_session() {
        let state = SessionState::default();
        assert!(state.allows(Some(&session(T0 * 1000, 1)), T0));
        assert!(state.allows(None, T0));
        assert_eq!(state.encode(), "");
    }

    #[test]
    fn one_revoked_session_is_refused_until_its_tokens_expire() {
        let (a, b) = (session(T0 * 1000, 1), session(T0 * 1000, 2));
        let mut state = SessionState::default();
        state.revoke(&a, T0);
        assert!(!state.allows(Some(&a), T0));
        assert!(!state.allows(Some(&a), T0 + ACCESS_TOKEN_TTL_SECS as i64));
        assert!(state.allows(Some(&b), T0));
        let later = T0 + ACCESS_TOKEN_TTL_SECS as i64 + CLOCK_SKEW_SECS as i64;
        state.revoke(&b, later);
        assert_eq!(state.revoked.len(), 1, "expired entries are pruned");
    }

    #[test]
    fn a_cut_ends_older_sessions_keeps_one_and_spares_later_logins() {
        let old = session(T0 * 1000 - 1, 1);
        let caller = session(T0 * 1000 - 500, 2);
        let newer = session(T0 * 1000 + 1, 3);
        let mut state = SessionState::default();
        state.cut_all(T0 * 1000, Some(&caller));
        assert!(!state.allows(Some(&old), T0));
        assert!(state.allows(Some(&caller), T0));
        assert!(state.allows(Some(&newer), T0));
        assert!(!state.allows(None, T0));
        state.cut_all(T0 * 1000 + 5, None);
        assert!(!state.allows(Some(&caller), T0), "a later cut keeps no one");
    }

    #[test]
    fn too_many_single_revocations_fold_into_a_cut() {
        let mut state = SessionState::default();
        for n in 0..=MAX_REVOKED_SESSIONS as u64 {
            state.revoke(&session(T0 * 1000 - 10, n), T0);
        }
        assert!(state.revoked.len() <= MAX_REVOKED_SESSIONS);
        assert!(!state.allows(Some(&session(T0 * 1000 - 10, 0)), T0));
        assert!(state.allows(Some(&session(T0 * 1000 + 1000, 999)), T0 + 1));
    }

    #[test]
    fn the_stored_form_round_trips_and_garbage_fails_closed() {
        let mut state = SessionState::default();
        state.revoke(&session(T0 * 1000, 1), T0);
        state.cut_all(T0 * 1000 - 100, None);
        assert_eq!(SessionState::decode(&state.encode()), state);
        let garbage = SessionState::decode("{not json");
        assert!(!garbage.allows(Some(&session(T0 * 1000, 5)), T0));
    }
}
