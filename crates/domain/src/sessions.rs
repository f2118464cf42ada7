//! Refresh tokens: opaque 256-bit values, stored only as SHA-256 hashes,
//! rotated on every use, grouped in families (one family per login). Using
//! an already-rotated token again means it was stolen or replayed: the whole
//! family is revoked, except within a short grace window where concurrent
//! refreshes by the same client get the same answer instead of a logout.
//!
//! A token's successor is not random: it is a keyed BLAKE3 hash of the
//! token under a server secret ([`SuccessorKey`]). Every exchange of one
//! token, first or replayed within the window, yields the same successor,
//! so a family never forks: it has at most one live token at any time, and
//! a thief replaying inside the window holds the very token the client
//! holds, whose next use by either side is detected. Nothing secret is
//! stored: the table keeps hashes, and deriving a successor needs the key.
//!
//! A family is also a session row, and that row orders rotation against
//! every way of ending it: a rotation claims its token, then advances the
//! session with a statement conditional on the session not having ended;
//! ending is a statement conditional on it not having ended yet. Both
//! write the same row, so whichever commits second sees the other (a
//! PostgreSQL `UPDATE` waits for the row's lock and re-checks its
//! condition; SQLite runs one writer at a time). A rotation that advanced
//! first may still answer, but its successor cannot rotate again, and the
//! access token it issues dates from before the end (see [`crate::ending`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::digest::hex;
use crate::ending::{EndReason, Ending, SessionStates, end_sessions};
use crate::random::Random;
use crate::revocation::new_session_id;
use crate::second_factor::LoginMethod;
use crate::session_list::{LiveSession, SessionId, user_agent_label};
use crate::user::{PageKey, RepoError, User, UserId};

/// How long a refresh token stays usable.
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;
/// How long after a rotation the old token still yields a new one.
pub const REUSE_GRACE_SECS: i64 = 10;
/// Longest refresh token accepted before hashing.
pub(crate) const MAX_TOKEN_CHARS: usize = 128;

/// One stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefreshToken {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The login this token descends from.
    pub family_id: String,
    /// Owner.
    pub user_id: UserId,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub expires_at: i64,
    /// When it was exchanged for a successor.
    pub rotated_at: Option<i64>,
    /// When its family was revoked.
    pub revoked_at: Option<i64>,
}

/// Whose a session is, and whether it ended ([`SessionRepository::owner`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOwner {
    /// The user who logged in.
    pub user_id: UserId,
    /// Whether the session has ended.
    pub ended: bool,
    /// How its login was proven.
    pub method: LoginMethod,
}

/// Storage of refresh tokens. Implementations live in `spin-users-store`.
pub trait SessionRepository {
    /// Records a new session (a login of `user_id` proven by `method`) at
    /// `now`, from a client that called itself `user_agent`.
    fn open(
        &self,
        family_id: &str,
        user_id: &UserId,
        now: i64,
        user_agent: Option<&str>,
        method: LoginMethod,
    ) -> Result<(), RepoError>;

    /// Stores a new token; storing a token already stored does nothing
    /// (two exchanges of one parent store the same successor).
    fn insert(&self, token: &StoredRefreshToken) -> Result<(), RepoError>;

    /// Atomically marks the token rotated at `now` if it is live (not
    /// rotated, not revoked, not expired) and returns it; `None` when another
    /// request rotated it first or it is not live.
    fn claim(&self, token_hash: &str, now: i64) -> Result<Option<StoredRefreshToken>, RepoError>;

    /// The token with this hash, whatever its state.
    fn find(&self, token_hash: &str) -> Result<Option<StoredRefreshToken>, RepoError>;

    /// Records a use of session `family_id` at `now` in one statement
    /// conditional on the session not having ended, answering how its
    /// login was proven; `None` when it has ended (or was never recorded).
    fn advance(&self, family_id: &str, now: i64) -> Result<Option<LoginMethod>, RepoError>;

    /// Ends session `family_id` of `user_id` in one statement conditional
    /// on it not having ended, revokes its tokens and counts the end for
    /// `reason`; `false` when it was not a live session of that user.
    fn end(
        &self,
        user_id: &UserId,
        family_id: &str,
        now: i64,
        reason: EndReason,
    ) -> Result<bool, RepoError>;

    /// Ends every live session of `user_id` but `except`, the same way;
    /// how many ended.
    fn end_all(
        &self,
        user_id: &UserId,
        except: Option<&str>,
        now: i64,
        reason: EndReason,
    ) -> Result<u64, RepoError>;

    /// Whose session `family_id` is, and whether it ended; `None` when
    /// there is no such session.
    fn owner(&self, family_id: &str) -> Result<Option<SessionOwner>, RepoError>;

    /// Up to `limit` sessions of `user_id` that have not ended and were
    /// last used after `used_after`, newest first (creation time, then id,
    /// both descending), strictly after `after` when given.
    fn live(
        &self,
        user_id: &UserId,
        used_after: i64,
        after: Option<&PageKey<SessionId>>,
        limit: u32,
    ) -> Result<Vec<LiveSession>, RepoError>;
}

/// SHA-256 of a token, hex: what is stored and looked up.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn new_secret(random: &mut dyn Random) -> String {
    let mut bytes = [0u8; 32];
    random.fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The secret successors are derived with (see the module documentation).
pub struct SuccessorKey([u8; 32]);

impl SuccessorKey {
    /// The key derived from a server secret (the signing key's bytes); a
    /// purpose string keeps it apart from every other use of the secret.
    pub fn derive(secret: &[u8]) -> Self {
        Self(blake3::derive_key(
            "spin-users 2026-11 refresh-token successor",
            secret,
        ))
    }

    /// The successor of `parent`: 256 bits, base64url like a fresh token.
    fn successor(&self, parent: &str) -> String {
        URL_SAFE_NO_PAD.encode(blake3::keyed_hash(&self.0, parent.as_bytes()).as_bytes())
    }
}

/// A refresh token handed to a client, with its family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedRefreshToken {
    /// The opaque token (shown once, never stored).
    pub token: String,
    /// Its family (the session id, `sid` in access tokens).
    pub family_id: String,
    /// The owner.
    pub user_id: UserId,
    /// How the session's login was proven (its access tokens' `amr`).
    pub method: LoginMethod,
}

/// Starts a new family for `user` (a login proven by `method`) at `now_ms`
/// (milliseconds) from a client sending `user_agent`: its id records when,
/// for revocation (see `revocation`).
pub fn start_session(
    repo: &dyn SessionRepository,
    user: &UserId,
    now_ms: i64,
    user_agent: Option<&str>,
    method: LoginMethod,
    random: &mut dyn Random,
) -> Result<IssuedRefreshToken, RepoError> {
    let family_id = new_session_id(now_ms, random);
    let now = now_ms.div_euclid(1000);
    let user_agent = user_agent.and_then(user_agent_label);
    repo.open(&family_id, user, now, user_agent.as_deref(), method)?;
    store_token(repo, user, family_id, new_secret(random), now, method)
}

fn store_token(
    repo: &dyn SessionRepository,
    user: &UserId,
    family_id: String,
    token: String,
    now: i64,
    method: LoginMethod,
) -> Result<IssuedRefreshToken, RepoError> {
    repo.insert(&StoredRefreshToken {
        token_hash: hash_token(&token),
        family_id: family_id.clone(),
        user_id: user.clone(),
        created_at: now,
        expires_at: now + REFRESH_TOKEN_TTL_SECS,
        rotated_at: None,
        revoked_at: None,
    })?;
    Ok(IssuedRefreshToken {
        token,
        family_id,
        user_id: user.clone(),
        method,
    })
}

/// Why a refresh failed. Clients see `invalid_grant` for all but storage.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired or revoked token.
    #[error("refresh token is not valid ({0})")]
    Invalid(&'static str),
    /// A rotated token was used after the grace window: the session is to
    /// be ended ([`refresh_session`] ends it).
    #[error("refresh token reuse detected in family {family_id}")]
    Reused {
        /// The revoked family.
        family_id: String,
        /// Its owner, for the audit log.
        user_id: UserId,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] RepoError),
}

/// Exchanges `token` for its successor in the same family, if its session
/// has not ended. A reuse is reported, not acted on: ending the session
/// is [`refresh_session`]'s.
pub fn rotate(
    repo: &dyn SessionRepository,
    token: &str,
    now: i64,
    key: &SuccessorKey,
) -> Result<IssuedRefreshToken, RefreshError> {
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Err(RefreshError::Invalid("malformed"));
    }
    let hash = hash_token(token);
    if let Some(claimed) = repo.claim(&hash, now)? {
        let Some(method) = repo.advance(&claimed.family_id, now)? else {
            return Err(RefreshError::Invalid("session ended"));
        };
        let successor = key.successor(token);
        return Ok(store_token(
            repo,
            &claimed.user_id,
            claimed.family_id,
            successor,
            now,
            method,
        )?);
    }
    // Not claimable: find out why.
    let stored = repo.find(&hash)?.ok_or(RefreshError::Invalid("unknown"))?;
    if stored.revoked_at.is_some() {
        return Err(RefreshError::Invalid("revoked"));
    }
    if stored.expires_at <= now {
        return Err(RefreshError::Invalid("expired"));
    }
    match stored.rotated_at {
        Some(rotated) if now - rotated <= REUSE_GRACE_SECS => {
            let Some(method) = repo.advance(&stored.family_id, now)? else {
                return Err(RefreshError::Invalid("session ended"));
            };
            // A concurrent refresh by the same client: the same answer as
            // the first exchange, never a second branch. Stored again in
            // case this request overtook the first one's insert (a no-op
            // otherwise: an already rotated successor stays rotated, and a
            // revoked family revoked this token too, refused above).
            let successor = key.successor(token);
            Ok(store_token(
                repo,
                &stored.user_id,
                stored.family_id,
                successor,
                rotated,
                method,
            )?)
        }
        Some(_) => Err(RefreshError::Reused {
            family_id: stored.family_id,
            user_id: stored.user_id,
        }),
        None => Err(RefreshError::Invalid("not claimable")),
    }
}

/// A refresh for the session's owner: `token`'s successor, and the owner to
/// issue an access token to. A reused token, or an owner deleted or
/// disabled since the login, ends the session instead, both halves (see
/// [`end_sessions`]), and the token is refused.
pub fn refresh_session(
    users: &dyn SessionStates,
    sessions: &dyn SessionRepository,
    token: &str,
    now_ms: i64,
    key: &SuccessorKey,
) -> Result<(User, IssuedRefreshToken), RefreshError> {
    let now = now_ms.div_euclid(1000);
    let refresh = match rotate(sessions, token, now, key) {
        Err(RefreshError::Reused { family_id, user_id }) => {
            let ending = Ending::Session(&family_id);
            end_sessions(users, sessions, &user_id, ending, EndReason::Reuse, now_ms)?;
            return Err(RefreshError::Reused { family_id, user_id });
        }
        other => other?,
    };
    match users.by_id(&refresh.user_id)? {
        Some(owner) if !owner.disabled => Ok((owner, refresh)),
        _ => {
            let ending = Ending::Session(&refresh.family_id);
            let reason = EndReason::OwnerGone;
            end_sessions(users, sessions, &refresh.user_id, ending, reason, now_ms)?;
            Err(RefreshError::Invalid("owner disabled or deleted"))
        }
    }
}

/// Ends the session `token` belongs to, both halves, for `reason` (a
/// logout or a revocation). Unknown tokens are not an error (RFC 7009
/// §2.2): the caller answers the same either way.
pub fn revoke(
    users: &dyn SessionStates,
    sessions: &dyn SessionRepository,
    token: &str,
    reason: EndReason,
    now_ms: i64,
) -> Result<Option<StoredRefreshToken>, RepoError> {
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Ok(None);
    }
    let Some(stored) = sessions.find(&hash_token(token))? else {
        return Ok(None);
    };
    let ending = Ending::Session(&stored.family_id);
    end_sessions(users, sessions, &stored.user_id, ending, reason, now_ms)?;
    Ok(Some(stored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{InMemorySessions, InMemoryUsers, password_login, sample_user};
    use crate::random::testing::SeededRandom;
    use crate::user::{Role, UserRepository};

    fn user() -> UserId {
        UserId::generate(&mut SeededRandom::new(1))
    }

    fn key() -> SuccessorKey {
        SuccessorKey::derive(b"test secret")
    }

    fn live_in_family(repo: &InMemorySessions, family: &str) -> usize {
        repo.all()
            .iter()
            .filter(|t| t.family_id == family && t.rotated_at.is_none() && t.revoked_at.is_none())
            .count()
    }

    #[test]
    fn tokens_are_stored_only_as_hashes() {
        let repo = InMemorySessions::default();
        let issued = password_login(&repo, &user(), 0, &mut SeededRandom::new(2));
        assert_eq!(issued.token.len(), 43, "256 bits, base64url");
        let stored = repo
            .find(&hash_token(&issued.token))
            .expect("find")
            .expect("stored");
        assert_ne!(stored.token_hash, issued.token);
        assert!(repo.all().iter().all(|t| t.token_hash != issued.token));
    }

    #[test]
    fn rotation_gives_a_new_token_in_the_same_family() {
        let repo = InMemorySessions::default();
        let mut random = SeededRandom::new(3);
        let first = password_login(&repo, &user(), 0, &mut random);
        let second = rotate(&repo, &first.token, 5, &key()).expect("rotate");
        assert_ne!(second.token, first.token);
        assert_eq!(second.family_id, first.family_id);
        assert!(
            rotate(&repo, &second.token, 6, &key()).is_ok(),
            "the new one works"
        );
    }

    #[test]
    fn a_refresh_keeps_how_the_login_was_proven() {
        let repo = InMemorySessions::default();
        let mut random = SeededRandom::new(5);
        let method = LoginMethod::PasswordAndOtp;
        let first = start_session(&repo, &user(), 0, None, method, &mut random).expect("start");
        assert_eq!(first.method, method);
        let second = rotate(&repo, &first.token, 5, &key()).expect("rotate");
        assert_eq!(second.method, method);
        let again = rotate(&repo, &first.token, 6, &key()).expect("within the grace window");
        assert_eq!(again.method, method);
        let third = rotate(&repo, &second.token, 7, &key()).expect("rotate");
        assert_eq!(third.method, method);
    }

    #[test]
    fn reuse_within_the_grace_window_gets_the_same_successor_and_never_forks() {
        let repo = InMemorySessions::default();
        let mut random = SeededRandom::new(4);
        let first = password_login(&repo, &user(), 0, &mut random);
        let a = rotate(&repo, &first.token, 100, &key()).expect("first refresh");
        let b = rotate(&repo, &first.token, 100 + REUSE_GRACE_SECS, &key())
            .expect("concurrent refresh");
        assert_eq!(a, b, "the replay gets the very same token");
        assert_eq!(live_in_family(&repo, &a.family_id), 1);
        let next = rotate(&repo, &a.token, 101, &key()).expect("family still alive");
        assert_eq!(
            rotate(&repo, &b.token, 102, &key())
                .expect("replay of the successor")
                .token,
            next.token
        );
        assert_eq!(live_in_family(&repo, &a.family_id), 1);
        assert_ne!(
            SuccessorKey::derive(b"another secret").successor(&first.token),
            a.token,
            "only the key's holder can derive a successor"
        );
    }

    #[test]
    fn reuse_after_the_grace_window_ends_the_session_both_halves() {
        let (users, owner) = users_with_owner();
        let repo = InMemorySessions::default();
        let mut random = SeededRandom::new(5);
        let first = password_login(&repo, &owner, 0, &mut random);
        let (_, current) =
            refresh_session(&users, &repo, &first.token, 100_000, &key()).expect("refresh");
        let late_ms = (100 + REUSE_GRACE_SECS + 1) * 1000;
        let replay = refresh_session(&users, &repo, &first.token, late_ms, &key());
        assert!(matches!(replay, Err(RefreshError::Reused { .. })));
        assert!(
            matches!(
                rotate(&repo, &current.token, 200, &key()),
                Err(RefreshError::Invalid("revoked"))
            ),
            "the legitimate holder is logged out too"
        );
        let state = users.by_id(&owner).expect("read").expect("exists").sessions;
        assert!(
            !state.allows(Some(&current.family_id), late_ms / 1000),
            "the session's access tokens are refused at once"
        );
    }

    #[test]
    fn expired_unknown_and_malformed_tokens_are_invalid() {
        let repo = InMemorySessions::default();
        let mut random = SeededRandom::new(6);
        let first = password_login(&repo, &user(), 0, &mut random);
        let late = rotate(&repo, &first.token, REFRESH_TOKEN_TTL_SECS, &key());
        assert!(matches!(late, Err(RefreshError::Invalid("expired"))));
        assert!(matches!(
            rotate(&repo, "nope", 1, &key()),
            Err(RefreshError::Invalid("unknown"))
        ));
        assert!(matches!(
            rotate(&repo, "", 1, &key()),
            Err(RefreshError::Invalid("malformed"))
        ));
        let huge = "x".repeat(10_000);
        assert!(matches!(
            rotate(&repo, &huge, 1, &key()),
            Err(RefreshError::Invalid("malformed"))
        ));
    }

    fn users_with_owner() -> (InMemoryUsers, UserId) {
        let users = InMemoryUsers::default();
        let owner = sample_user(11, "owner@example.com", vec![Role::User]);
        let credential = crate::hashing::Credential::from_phc(String::new());
        users.insert(&owner, &credential).expect("insert");
        (users, owner.id)
    }

    #[test]
    fn revoking_a_token_ends_its_family_only() {
        let (users, owner) = users_with_owner();
        let repo = InMemorySessions::default();
        let mut random = SeededRandom::new(7);
        let phone = password_login(&repo, &owner, 0, &mut random);
        let laptop = password_login(&repo, &owner, 0, &mut random);
        revoke(&users, &repo, &phone.token, EndReason::Logout, 1000).expect("revoke");
        assert!(rotate(&repo, &phone.token, 2, &key()).is_err());
        assert!(rotate(&repo, &laptop.token, 2, &key()).is_ok());
        let state = users.by_id(&owner).expect("read").expect("exists").sessions;
        assert!(!state.allows(Some(&phone.family_id), 2));
        assert!(state.allows(Some(&laptop.family_id), 2));
        assert_eq!(
            revoke(&users, &repo, "unknown", EndReason::Logout, 3000).expect("no error"),
            None
        );
    }

    #[test]
    fn a_disabled_or_deleted_owner_ends_the_session() {
        let (users, owner_id) = users_with_owner();
        let mut owner = users.by_id(&owner_id).expect("read").expect("exists");
        let repo = InMemorySessions::default();
        let mut random = SeededRandom::new(9);
        let login = password_login(&repo, &owner.id, 0, &mut random);
        let (found, next) =
            refresh_session(&users, &repo, &login.token, 1000, &key()).expect("a live owner");
        assert_eq!(found.id, owner.id);

        owner.disabled = true;
        users.update(&owner, None).expect("disable");
        let refused = refresh_session(&users, &repo, &next.token, 2000, &key());
        assert!(matches!(refused, Err(RefreshError::Invalid(_))));
        assert_eq!(live_in_family(&repo, &next.family_id), 0, "family revoked");

        let stranger = password_login(&repo, &user_of(10), 0, &mut random);
        let refused = refresh_session(&users, &repo, &stranger.token, 1000, &key());
        assert!(
            matches!(refused, Err(RefreshError::Invalid(_))),
            "deleted owner"
        );
        assert_eq!(live_in_family(&repo, &stranger.family_id), 0);
    }

    fn user_of(seed: u64) -> UserId {
        UserId::generate(&mut SeededRandom::new(seed))
    }
}
