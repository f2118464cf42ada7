//! Refresh tokens: opaque 256-bit values, stored only as SHA-256 hashes,
//! rotated on every use, grouped in families (one family per login). Using
//! an already-rotated token again means it was stolen or replayed: the whole
//! family is revoked, except within a short grace window where concurrent
//! refreshes by the same client get a fresh token instead of a logout.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::digest::hex;
use crate::random::Random;
use crate::user::{RepoError, UserId};

/// How long a refresh token stays usable.
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;
/// How long after a rotation the old token still yields a new one.
pub const REUSE_GRACE_SECS: i64 = 10;
/// Longest refresh token accepted before hashing.
const MAX_TOKEN_CHARS: usize = 128;

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

/// Storage of refresh tokens. Implementations live in `spin-users-store`.
pub trait SessionRepository {
    /// Stores a new token.
    fn insert(&self, token: &StoredRefreshToken) -> Result<(), RepoError>;

    /// Atomically marks the token rotated at `now` if it is live (not
    /// rotated, not revoked, not expired) and returns it; `None` when another
    /// request rotated it first or it is not live.
    fn claim(&self, token_hash: &str, now: i64) -> Result<Option<StoredRefreshToken>, RepoError>;

    /// The token with this hash, whatever its state.
    fn find(&self, token_hash: &str) -> Result<Option<StoredRefreshToken>, RepoError>;

    /// Revokes every token of a family; returns how many were live.
    fn revoke_family(&self, family_id: &str, now: i64) -> Result<u64, RepoError>;

    /// Revokes every token of a user, optionally sparing one family.
    fn revoke_user(
        &self,
        user_id: &UserId,
        except_family: Option<&str>,
        now: i64,
    ) -> Result<u64, RepoError>;
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

/// A refresh token handed to a client, with its family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedRefreshToken {
    /// The opaque token (shown once, never stored).
    pub token: String,
    /// Its family (the session id, `sid` in access tokens).
    pub family_id: String,
    /// The owner.
    pub user_id: UserId,
}

/// Starts a new family for `user` (a login).
pub fn start_session(
    repo: &dyn SessionRepository,
    user: &UserId,
    now: i64,
    random: &mut dyn Random,
) -> Result<IssuedRefreshToken, RepoError> {
    let family_id = new_secret(random)[..22].to_owned();
    issue_in_family(repo, user, family_id, now, random)
}

fn issue_in_family(
    repo: &dyn SessionRepository,
    user: &UserId,
    family_id: String,
    now: i64,
    random: &mut dyn Random,
) -> Result<IssuedRefreshToken, RepoError> {
    let token = new_secret(random);
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
    })
}

/// Why a refresh failed. Clients see `invalid_grant` for all but storage.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired or revoked token.
    #[error("refresh token is not valid ({0})")]
    Invalid(&'static str),
    /// A rotated token was used after the grace window: the family was revoked.
    #[error("refresh token reuse detected; family {family_id} revoked")]
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

/// Exchanges `token` for a new one in the same family.
pub fn rotate(
    repo: &dyn SessionRepository,
    token: &str,
    now: i64,
    random: &mut dyn Random,
) -> Result<IssuedRefreshToken, RefreshError> {
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Err(RefreshError::Invalid("malformed"));
    }
    let hash = hash_token(token);
    if let Some(claimed) = repo.claim(&hash, now)? {
        return Ok(issue_in_family(
            repo,
            &claimed.user_id,
            claimed.family_id,
            now,
            random,
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
            // A concurrent refresh by the same client: answer, don't punish.
            Ok(issue_in_family(
                repo,
                &stored.user_id,
                stored.family_id,
                now,
                random,
            )?)
        }
        Some(_) => {
            repo.revoke_family(&stored.family_id, now)?;
            Err(RefreshError::Reused {
                family_id: stored.family_id,
                user_id: stored.user_id,
            })
        }
        None => Err(RefreshError::Invalid("not claimable")),
    }
}

/// Revokes the family `token` belongs to (logout). Unknown tokens are not
/// an error (RFC 7009 §2.2): the caller answers the same either way.
pub fn revoke(
    repo: &dyn SessionRepository,
    token: &str,
    now: i64,
) -> Result<Option<StoredRefreshToken>, RepoError> {
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Ok(None);
    }
    let Some(stored) = repo.find(&hash_token(token))? else {
        return Ok(None);
    };
    repo.revoke_family(&stored.family_id, now)?;
    Ok(Some(stored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::InMemorySessions;
    use crate::random::testing::SeededRandom;

    fn user() -> UserId {
        UserId::generate(&mut SeededRandom::new(1))
    }

    #[test]
    fn tokens_are_stored_only_as_hashes() {
        let repo = InMemorySessions::default();
        let issued = start_session(&repo, &user(), 0, &mut SeededRandom::new(2)).expect("start");
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
        let first = start_session(&repo, &user(), 0, &mut random).expect("start");
        let second = rotate(&repo, &first.token, 5, &mut random).expect("rotate");
        assert_ne!(second.token, first.token);
        assert_eq!(second.family_id, first.family_id);
        assert!(
            rotate(&repo, &second.token, 6, &mut random).is_ok(),
            "the new one works"
        );
    }

    #[test]
    fn reuse_within_the_grace_window_is_answered_not_punished() {
        let repo = InMemorySessions::default();
        let mut random = SeededRandom::new(4);
        let first = start_session(&repo, &user(), 0, &mut random).expect("start");
        let a = rotate(&repo, &first.token, 100, &mut random).expect("first refresh");
        let b = rotate(&repo, &first.token, 100 + REUSE_GRACE_SECS, &mut random)
            .expect("concurrent refresh");
        assert_ne!(a.token, b.token);
        assert!(
            rotate(&repo, &a.token, 101, &mut random).is_ok(),
            "family still alive"
        );
    }

    #[test]
    fn reuse_after_the_grace_window_revokes_the_whole_family() {
        let repo = InMemorySessions::default();
        let mut random = SeededRandom::new(5);
        let first = start_session(&repo, &user(), 0, &mut random).expect("start");
        let current = rotate(&repo, &first.token, 100, &mut random).expect("refresh");
        let replay = rotate(&repo, &first.token, 100 + REUSE_GRACE_SECS + 1, &mut random);
        assert!(matches!(replay, Err(RefreshError::Reused { .. })));
        assert!(
            matches!(
                rotate(&repo, &current.token, 200, &mut random),
                Err(RefreshError::Invalid("revoked"))
            ),
            "the legitimate holder is logged out too"
        );
    }

    #[test]
    fn expired_unknown_and_malformed_tokens_are_invalid() {
        let repo = InMemorySessions::default();
        let mut random = SeededRandom::new(6);
        let first = start_session(&repo, &user(), 0, &mut random).expect("start");
        let late = rotate(&repo, &first.token, REFRESH_TOKEN_TTL_SECS, &mut random);
        assert!(matches!(late, Err(RefreshError::Invalid("expired"))));
        assert!(matches!(
            rotate(&repo, "nope", 1, &mut random),
            Err(RefreshError::Invalid("unknown"))
        ));
        assert!(matches!(
            rotate(&repo, "", 1, &mut random),
            Err(RefreshError::Invalid("malformed"))
        ));
        let huge = "x".repeat(10_000);
        assert!(matches!(
            rotate(&repo, &huge, 1, &mut random),
            Err(RefreshError::Invalid("malformed"))
        ));
    }

    #[test]
    fn revoking_a_token_ends_its_family_only() {
        let repo = InMemorySessions::default();
        let mut random = SeededRandom::new(7);
        let owner = user();
        let phone = start_session(&repo, &owner, 0, &mut random).expect("phone");
        let laptop = start_session(&repo, &owner, 0, &mut random).expect("laptop");
        revoke(&repo, &phone.token, 1).expect("revoke");
        assert!(rotate(&repo, &phone.token, 2, &mut random).is_err());
        assert!(rotate(&repo, &laptop.token, 2, &mut random).is_ok());
        assert_eq!(revoke(&repo, "unknown", 3).expect("no error"), None);
    }

    #[test]
    fn revoking_a_user_can_spare_the_current_session() {
        let repo = InMemorySessions::default();
        let mut random = SeededRandom::new(8);
        let owner = user();
        let current = start_session(&repo, &owner, 0, &mut random).expect("current");
        let other = start_session(&repo, &owner, 0, &mut random).expect("other");
        repo.revoke_user(&owner, Some(&current.family_id), 1)
            .expect("revoke others");
        assert!(rotate(&repo, &other.token, 2, &mut random).is_err());
        assert!(rotate(&repo, &current.token, 2, &mut random).is_ok());
    }
}
