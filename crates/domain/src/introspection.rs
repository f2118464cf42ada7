//! Tokens as other services ask about them: introspection (RFC 7662) and
//! revocation (RFC 7009) of either kind of token.
//!
//! The two kinds cannot be mistaken for each other: an access token is a
//! JWT (three dot-separated parts), a refresh token 43 base64url
//! characters with no dot. So the shape decides which is meant, and a
//! `token_type_hint` (which both RFCs let a server ignore) costs nothing
//! when wrong.
//!
//! An access token is active while it verifies (signature, issuer,
//! audience, lifetime) and its owner's record still lets it act: the owner
//! exists, is enabled, owes no new password, and has not ended the
//! token's session. A refresh token is active while it is its session's
//! current token (neither rotated nor revoked nor expired), the session
//! has not ended, and its owner exists and is enabled.

use crate::ending::{EndReason, Ending, SessionStates, end_sessions};
use crate::sessions::{SessionRepository, hash_token, revoke};
use crate::tokens::KeyRing;
use crate::user::{RepoError, Role, User, UserId, UserRepository};

/// The two kinds of token the service issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A JWT for resource servers.
    Access,
    /// The opaque token of `grant_type=refresh_token`.
    Refresh,
}

impl TokenKind {
    /// The kind `token` has the shape of.
    pub fn of(token: &str) -> Self {
        if token.contains('.') {
            Self::Access
        } else {
            Self::Refresh
        }
    }

    /// Its `token_type` in introspection answers (RFC 7662 §2.2, with the
    /// hint values of RFC 7009 §2.1).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access_token",
            Self::Refresh => "refresh_token",
        }
    }
}

/// What introspection reports of an active token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    /// Which kind it is.
    pub kind: TokenKind,
    /// Its owner (`sub`).
    pub subject: UserId,
    /// Its session (`sid`).
    pub session_id: Option<String>,
    /// Issued at (`iat`), seconds since the epoch.
    pub issued_at: i64,
    /// Expires at (`exp`).
    pub expires_at: i64,
    /// The access token's `jti`.
    pub token_id: Option<String>,
    /// The owner's roles now (not as the token remembers them).
    pub roles: Vec<Role>,
    /// How the session's login was proven (`amr`, RFC 8176).
    pub amr: Vec<String>,
}

/// `token` at `now` (seconds), if active; `None` for anything revoked,
/// expired, malformed, from another issuer or of an owner who may no
/// longer act.
pub fn introspect(
    ring: &KeyRing,
    users: &dyn UserRepository,
    sessions: &dyn SessionRepository,
    token: &str,
    now: i64,
) -> Result<Option<ActiveToken>, RepoError> {
    match TokenKind::of(token) {
        TokenKind::Access => introspect_access(ring, users, token, now),
        TokenKind::Refresh => introspect_refresh(users, sessions, token, now),
    }
}

fn introspect_access(
    ring: &KeyRing,
    users: &dyn UserRepository,
    token: &str,
    now: i64,
) -> Result<Option<ActiveToken>, RepoError> {
    let Ok(claims) = ring.verify(token, u64::try_from(now).unwrap_or_default()) else {
        return Ok(None);
    };
    let Some(owner) = UserId::parse(&claims.subject) else {
        return Ok(None);
    };
    let Some(user) = users.by_id(&owner)? else {
        return Ok(None);
    };
    let acts = may_act(&user)
        && !user.password_change_required
        && user.sessions.allows(claims.session_id.as_deref(), now);
    Ok(acts.then(|| ActiveToken {
        kind: TokenKind::Access,
        subject: owner,
        session_id: claims.session_id,
        issued_at: i64::try_from(claims.issued_at).unwrap_or(i64::MAX),
        expires_at: i64::try_from(claims.expires_at).unwrap_or(i64::MAX),
        token_id: Some(claims.token_id),
        roles: user.roles,
        amr: claims.amr,
    }))
}

fn introspect_refresh(
    users: &dyn UserRepository,
    sessions: &dyn SessionRepository,
    token: &str,
    now: i64,
) -> Result<Option<ActiveToken>, RepoError> {
    if token.is_empty() || token.len() > crate::sessions::MAX_TOKEN_CHARS {
        return Ok(None);
    }
    let Some(stored) = sessions.find(&hash_token(token))? else {
        return Ok(None);
    };
    let current =
        stored.rotated_at.is_none() && stored.revoked_at.is_none() && stored.expires_at > now;
    if !current {
        return Ok(None);
    }
    let Some(session) = sessions
        .owner(&stored.family_id)?
        .filter(|owner| !owner.ended && owner.user_id == stored.user_id)
    else {
        return Ok(None);
    };
    let Some(user) = users.by_id(&stored.user_id)?.filter(may_act) else {
        return Ok(None);
    };
    Ok(Some(ActiveToken {
        kind: TokenKind::Refresh,
        subject: stored.user_id,
        session_id: Some(stored.family_id),
        issued_at: stored.created_at,
        expires_at: stored.expires_at,
        token_id: None,
        roles: user.roles,
        amr: session
            .method
            .amr()
            .iter()
            .map(|m| (*m).to_owned())
            .collect(),
    }))
}

fn may_act(user: &User) -> bool {
    !user.disabled
}

/// A session ended by revoking one of its tokens: whose, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSession {
    /// The owner.
    pub user_id: UserId,
    /// The session.
    pub session_id: String,
}

/// Revokes `token` (RFC 7009): the session it belongs to ends, both
/// halves, whichever kind it is. `None` when there was nothing to end
/// (an unknown, malformed or expired token, or an access token issued
/// without a session), which RFC 7009 §2.2 answers like a success.
pub fn revoke_token(
    ring: &KeyRing,
    users: &dyn SessionStates,
    sessions: &dyn SessionRepository,
    token: &str,
    now_ms: i64,
) -> Result<Option<RevokedSession>, RepoError> {
    match TokenKind::of(token) {
        TokenKind::Access => {
            let now = u64::try_from(now_ms.div_euclid(1000)).unwrap_or_default();
            let Ok(claims) = ring.verify(token, now) else {
                return Ok(None);
            };
            let (Some(user_id), Some(session_id)) =
                (UserId::parse(&claims.subject), claims.session_id)
            else {
                return Ok(None);
            };
            let ending = Ending::Session(&session_id);
            end_sessions(
                users,
                sessions,
                &user_id,
                ending,
                EndReason::Revoked,
                now_ms,
            )?;
            Ok(Some(RevokedSession {
                user_id,
                session_id,
            }))
        }
        TokenKind::Refresh => Ok(
            revoke(users, sessions, token, EndReason::Revoked, now_ms)?.map(|stored| {
                RevokedSession {
                    user_id: stored.user_id,
                    session_id: stored.family_id,
                }
            }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{InMemorySessions, InMemoryUsers, password_login, sample_user};
    use crate::hashing::Credential;
    use crate::random::testing::SeededRandom;
    use crate::second_factor::LoginMethod;
    use crate::sessions::{SuccessorKey, rotate};

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const T0: i64 = 1_800_000_000;

    struct World {
        ring: KeyRing,
        users: InMemoryUsers,
        sessions: InMemorySessions,
        owner: User,
        random: SeededRandom,
    }

    fn world() -> World {
        let users = InMemoryUsers::default();
        let owner = sample_user(1, "owner@example.com", vec![Role::User]);
        users
            .insert(&owner, &Credential::from_phc(String::new()))
            .expect("insert");
        World {
            ring: KeyRing::new("https://auth.test", "api", KEY, None).expect("key"),
            users,
            sessions: InMemorySessions::default(),
            owner,
            random: SeededRandom::new(2),
        }
    }

    /// A login: (access token, refresh token, session id).
    fn login(w: &mut World) -> (String, String, String) {
        let refresh = password_login(&w.sessions, &w.owner.id, T0 * 1000, &mut w.random);
        let access = w
            .ring
            .issue(
                w.owner.id.as_ref(),
                &["user".into()],
                Some(&refresh.family_id),
                LoginMethod::Password,
                T0 as u64,
                &mut w.random,
            )
            .expect("issue")
            .token;
        (access, refresh.token, refresh.family_id)
    }

    fn active(w: &World, token: &str, now: i64) -> Option<ActiveToken> {
        introspect(&w.ring, &w.users, &w.sessions, token, now).expect("introspect")
    }

    #[test]
    fn live_tokens_are_active_with_their_claims() {
        let mut w = world();
        let (access, refresh, sid) = login(&mut w);
        let a = active(&w, &access, T0 + 1).expect("active access token");
        assert_eq!(a.kind, TokenKind::Access);
        assert_eq!(a.subject, w.owner.id);
        assert_eq!(a.session_id.as_deref(), Some(sid.as_str()));
        assert_eq!((a.issued_at, a.expires_at), (T0, T0 + 900));
        assert!(a.token_id.is_some());
        let r = active(&w, &refresh, T0 + 1).expect("active refresh token");
        assert_eq!(r.kind, TokenKind::Refresh);
        assert_eq!(r.session_id.as_deref(), Some(sid.as_str()));
        assert_eq!(r.expires_at, T0 + crate::sessions::REFRESH_TOKEN_TTL_SECS);
    }

    #[test]
    fn expired_rotated_malformed_and_foreign_tokens_are_inactive() {
        let mut w = world();
        let (access, refresh, _) = login(&mut w);
        assert_eq!(active(&w, &access, T0 + 2000), None, "expired");
        let foreign = KeyRing::new("https://other.test", "api", KEY, None).expect("key");
        let theirs = foreign
            .issue(
                w.owner.id.as_ref(),
                &[],
                None,
                LoginMethod::Password,
                T0 as u64,
                &mut w.random,
            )
            .expect("issue")
            .token;
        assert_eq!(active(&w, &theirs, T0 + 1), None, "another issuer");
        for garbage in ["", "a.b.c", "not-a-token", &"x".repeat(5000)] {
            assert_eq!(active(&w, garbage, T0 + 1), None, "{garbage:?}");
        }
        let key = SuccessorKey::derive(b"k");
        rotate(&w.sessions, &refresh, T0 + 5, &key).expect("rotate");
        assert_eq!(active(&w, &refresh, T0 + 6), None, "rotated");
    }

    #[test]
    fn revoking_either_token_ends_the_session_for_both() {
        for revoke_access in [true, false] {
            let mut w = world();
            let (access, refresh, sid) = login(&mut w);
            let (other_access, other_refresh, _) = login(&mut w);
            let token = if revoke_access { &access } else { &refresh };
            let revoked = revoke_token(&w.ring, &w.users, &w.sessions, token, (T0 + 1) * 1000)
                .expect("revoke")
                .expect("a session ended");
            assert_eq!(revoked.session_id, sid);
            assert_eq!(active(&w, &access, T0 + 2), None, "access half");
            assert_eq!(active(&w, &refresh, T0 + 2), None, "refresh half");
            assert!(active(&w, &other_access, T0 + 2).is_some(), "other session");
            assert!(active(&w, &other_refresh, T0 + 2).is_some());
        }
        let w = world();
        let none = revoke_token(&w.ring, &w.users, &w.sessions, "unknown", T0 * 1000);
        assert_eq!(none.expect("not an error"), None);
    }

    #[test]
    fn a_disabled_owner_or_one_owing_a_password_makes_tokens_inactive() {
        let mut w = world();
        let (access, refresh, _) = login(&mut w);
        let mut owner = w.owner.clone();
        owner.password_change_required = true;
        w.users.update(&owner, None).expect("update");
        assert_eq!(active(&w, &access, T0 + 1), None);
        assert!(active(&w, &refresh, T0 + 1).is_some(), "it may refresh");
        owner.password_change_required = false;
        owner.disabled = true;
        owner.version += 1;
        w.users.update(&owner, None).expect("update");
        assert_eq!(active(&w, &refresh, T0 + 1), None);
    }
}
