//! Ending sessions: one operation for every path that ends one (logout,
//! logout everywhere, a password change, deleting or disabling an account,
//! a detected refresh-token reuse).
//!
//! A session has two halves. Its refresh tokens live in the sessions
//! table; its access tokens are stateless for their 15 minutes, and are
//! refused through the user's [`SessionState`], which every authenticated
//! request reads. Ending cuts the refresh half first, with a statement
//! conditional on the session row (see [`crate::sessions`]), so no access
//! token can be issued from the session afterwards; then the access half,
//! whose entry outlives every access token issued before.
//!
//! The order closes the race with a refresh: a rotation that advanced the
//! session before it ended issued its access token at a time before the
//! end, so the entry (end + token lifetime + skew) outlives it; a rotation
//! after the end is refused. An ended session never rotates again, so no
//! entry needs to outlive anything else.

use crate::revocation::SessionState;
use crate::sessions::SessionRepository;
use crate::user::{RepoError, UserId, UserRepository};

/// Which sessions of a user end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending<'a> {
    /// One session (logout, reuse, a session ended by its id).
    Session(&'a str),
    /// Every session but `except` (logout everywhere and account removal:
    /// none; a password change: the caller's own).
    Every {
        /// The session that survives, if any.
        except: Option<&'a str>,
    },
}

/// Why sessions ended, as metrics count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `POST /logout` with a refresh token.
    Logout,
    /// `POST /logout?all=true`.
    LogoutEverywhere,
    /// `DELETE /users/me/sessions/{id}`.
    EndedByOwner,
    /// `POST /revoke` (RFC 7009).
    Revoked,
    /// A new password ended the other sessions.
    PasswordChanged,
    /// A password reset (`POST /password/reset`) ended every session.
    PasswordReset,
    /// The account was deleted, by its owner or an admin.
    AccountDeleted,
    /// An admin disabled the account.
    Disabled,
    /// A rotated refresh token was used again.
    Reuse,
    /// A refresh found its owner deleted or disabled.
    OwnerGone,
}

impl EndReason {
    /// Every reason, for the metrics catalogue.
    pub const ALL: [Self; 10] = [
        Self::Logout,
        Self::LogoutEverywhere,
        Self::EndedByOwner,
        Self::Revoked,
        Self::PasswordChanged,
        Self::PasswordReset,
        Self::AccountDeleted,
        Self::Disabled,
        Self::Reuse,
        Self::OwnerGone,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutEverywhere => "logout_everywhere",
            Self::EndedByOwner => "ended_by_owner",
            Self::Revoked => "revoked",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::AccountDeleted => "account_deleted",
            Self::Disabled => "disabled",
            Self::Reuse => "refresh_token_reuse",
            Self::OwnerGone => "owner_gone",
        }
    }
}

/// Users whose [`SessionState`] can be changed: implemented over the user
/// store by the adapters (the cache must drop the user's entry).
pub trait SessionStates: UserRepository {
    /// Applies `change` to the session state of `id` in one write
    /// conditional on the version read, redone on a fresh read if the row
    /// moved on. A user who no longer exists needs nothing.
    fn change_sessions(
        &self,
        id: &UserId,
        change: &dyn Fn(&mut SessionState),
    ) -> Result<(), RepoError>;
}

/// Ends the sessions of `user` that `ending` names, both halves, at
/// `now_ms`, for `reason`; how many live sessions ended.
pub fn end_sessions(
    users: &dyn SessionStates,
    sessions: &dyn SessionRepository,
    user: &UserId,
    ending: Ending<'_>,
    reason: EndReason,
    now_ms: i64,
) -> Result<u64, RepoError> {
    let now = now_ms.div_euclid(1000);
    let ended = match ending {
        Ending::Session(sid) => {
            let ended = sessions.end(user, sid, now, reason)?;
            // Someone else's session, or none: nothing of the user's to cut.
            // One of theirs that ended already is cut again, in case the
            // end that ended it failed before its access half.
            // (Whose it is is read only when this end ended nothing.)
            if !ended
                && sessions
                    .owner(sid)?
                    .is_none_or(|owner| owner.user_id != *user)
            {
                return Ok(0);
            }
            u64::from(ended)
        }
        Ending::Every { except } => sessions.end_all(user, except, now, reason)?,
    };
    users.change_sessions(user, &|state| match ending {
        Ending::Session(sid) => state.revoke(sid, now),
        Ending::Every { except } => state.cut_all(now_ms, except),
    })?;
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{InMemorySessions, InMemoryUsers, password_login, sample_user};
    use crate::hashing::Credential;
    use crate::random::testing::SeededRandom;
    use crate::sessions::{SuccessorKey, rotate};
    use crate::user::Role;

    const T0_MS: i64 = 1_800_000_000_000;

    fn setup() -> (InMemoryUsers, InMemorySessions, UserId) {
        let users = InMemoryUsers::default();
        let owner = sample_user(1, "owner@example.com", vec![Role::User]);
        users
            .insert(&owner, &Credential::from_phc(String::new()))
            .expect("insert");
        (users, InMemorySessions::default(), owner.id)
    }

    fn state(users: &InMemoryUsers, id: &UserId) -> SessionState {
        users.by_id(id).expect("read").expect("exists").sessions
    }

    #[test]
    fn ending_one_session_cuts_both_halves_of_it_only() {
        let (users, sessions, owner) = setup();
        let mut random = SeededRandom::new(2);
        let phone = password_login(&sessions, &owner, T0_MS - 5000, &mut random);
        let laptop = password_login(&sessions, &owner, T0_MS - 4000, &mut random);
        let ended = end_sessions(
            &users,
            &sessions,
            &owner,
            Ending::Session(&phone.family_id),
            EndReason::Logout,
            T0_MS,
        )
        .expect("end");
        assert_eq!(ended, 1);
        let now = T0_MS / 1000;
        let key = SuccessorKey::derive(b"k");
        assert!(rotate(&sessions, &phone.token, now, &key).is_err());
        assert!(!state(&users, &owner).allows(Some(&phone.family_id), now));
        assert!(rotate(&sessions, &laptop.token, now, &key).is_ok());
        assert!(state(&users, &owner).allows(Some(&laptop.family_id), now));
    }

    #[test]
    fn a_session_of_someone_else_is_not_ended() {
        let (users, sessions, owner) = setup();
        let mut random = SeededRandom::new(3);
        let stranger = UserId::generate(&mut random);
        let theirs = password_login(&sessions, &stranger, T0_MS, &mut random);
        let ending = Ending::Session(&theirs.family_id);
        let ended = end_sessions(
            &users,
            &sessions,
            &owner,
            ending,
            EndReason::Logout,
            T0_MS + 1,
        )
        .expect("end");
        assert_eq!(ended, 0);
        assert_eq!(
            state(&users, &owner),
            SessionState::default(),
            "the owner's record is not written"
        );
        let key = SuccessorKey::derive(b"k");
        assert!(rotate(&sessions, &theirs.token, T0_MS / 1000 + 1, &key).is_ok());
    }

    #[test]
    fn ending_every_session_can_spare_one_and_spares_later_logins() {
        let (users, sessions, owner) = setup();
        let mut random = SeededRandom::new(4);
        let kept = password_login(&sessions, &owner, T0_MS - 3000, &mut random);
        let other = password_login(&sessions, &owner, T0_MS - 2000, &mut random);
        let ending = Ending::Every {
            except: Some(&kept.family_id),
        };
        assert_eq!(
            end_sessions(&users, &sessions, &owner, ending, EndReason::Logout, T0_MS).expect("end"),
            1
        );
        let now = T0_MS / 1000;
        let key = SuccessorKey::derive(b"k");
        assert!(rotate(&sessions, &other.token, now, &key).is_err());
        assert!(!state(&users, &owner).allows(Some(&other.family_id), now));
        assert!(rotate(&sessions, &kept.token, now, &key).is_ok());
        assert!(state(&users, &owner).allows(Some(&kept.family_id), now));
        let later = password_login(&sessions, &owner, T0_MS + 1, &mut random);
        assert!(state(&users, &owner).allows(Some(&later.family_id), now));
    }

    #[test]
    fn a_successor_stored_after_the_end_cannot_rotate() {
        // The interleaving of a refresh racing a logout: the refresh
        // claimed and advanced, the logout ended, then the refresh stored
        // the successor.
        let (users, sessions, owner) = setup();
        let mut random = SeededRandom::new(5);
        let login = password_login(&sessions, &owner, T0_MS, &mut random);
        let key = SuccessorKey::derive(b"k");
        let now = T0_MS / 1000;
        let successor = rotate(&sessions, &login.token, now, &key).expect("rotate");
        let ending = Ending::Session(&login.family_id);
        end_sessions(
            &users,
            &sessions,
            &owner,
            ending,
            EndReason::Logout,
            T0_MS + 1,
        )
        .expect("end");
        sessions.unrevoke(&successor.token);
        assert!(rotate(&sessions, &successor.token, now + 1, &key).is_err());
    }

    #[test]
    fn ending_sessions_of_a_deleted_user_cuts_the_refresh_half() {
        let (users, sessions, owner) = setup();
        let mut random = SeededRandom::new(6);
        let login = password_login(&sessions, &owner, T0_MS, &mut random);
        users.delete(&owner, None).expect("delete");
        let ending = Ending::Every { except: None };
        assert_eq!(
            end_sessions(
                &users,
                &sessions,
                &owner,
                ending,
                EndReason::Logout,
                T0_MS + 1
            )
            .expect("end"),
            1
        );
        let key = SuccessorKey::derive(b"k");
        assert!(rotate(&sessions, &login.token, T0_MS / 1000 + 1, &key).is_err());
    }
}
