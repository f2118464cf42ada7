//! What a mailed one-time token (`crate::one_time`) does when spent: a
//! password reset sets a new password (the caller then ends every session
//! of the account, both halves, through `crate::end_sessions`; the new
//! password's write has already cut the access half), and a verification
//! marks the address proven.

use crate::email::Email;
use crate::hashing::{Credential, HashError, PasswordHasher};
use crate::one_time::{OneTimeTokens, Purpose, token_hash};
use crate::password::Password;
use crate::random::Random;
use crate::user::{RepoError, User, UserRepository};
use crate::validation::FieldError;

/// Tries of a password write that keeps meeting a newer row.
const ATTEMPTS: u32 = 3;

/// Why a reset failed.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// A made-up, spent, expired or other-purpose token, or one whose
    /// account is gone, disabled or at another address since: one and the
    /// same answer.
    #[error("the token is not valid")]
    InvalidToken,
    /// The new password breaks the rules; the token was not spent.
    #[error(transparent)]
    Password(#[from] FieldError),
    /// The address an e-mail change moves to was taken meanwhile.
    #[error("the new address belongs to another account")]
    EmailTaken,
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] RepoError),
}

/// Resets the password of the account `token` was mailed for, at `now_ms`:
/// the token is checked, then the password (a password the rules refuse
/// leaves the token usable), then the token is spent by one conditional
/// statement (of parallel resets with one token, one gets past it) and the
/// password written, with every session cut for access tokens in the same
/// write. Returns the account as stored.
pub fn reset_password(
    users: &dyn UserRepository,
    tokens: &dyn OneTimeTokens,
    hasher: &PasswordHasher,
    random: &mut dyn Random,
    token: &str,
    new_password: String,
    now_ms: i64,
) -> Result<User, ResetError> {
    let now = now_ms.div_euclid(1000);
    let purpose = Purpose::PasswordReset;
    let hash = token_hash(token).ok_or(ResetError::InvalidToken)?;
    let found = tokens
        .find(&hash, purpose, now)?
        .ok_or(ResetError::InvalidToken)?;
    // The account that has the address the token was mailed to now, read
    // from storage (never a cached copy: the write below is conditional
    // on its version): it must be the token's, and enabled.
    let address = Email::parse(&found.address).map_err(|_| ResetError::InvalidToken)?;
    let bound = || -> Result<User, ResetError> {
        users
            .by_email(&address)?
            .map(|(user, _)| user)
            .filter(|u| !u.disabled && u.id == found.user_id)
            .ok_or(ResetError::InvalidToken)
    };
    let user = bound()?;
    let password = Password::parse_new(new_password, Some(&user.email))?;
    tokens
        .spend(&hash, purpose, now)?
        .ok_or(ResetError::InvalidToken)?;
    let credential = hasher.hash(&password, random)?;
    write_fresh(users, user, bound, Some(&credential), |user| {
        user.sessions.cut_all(now_ms, None);
        user.password_change_required = false;
        // The mailbox was proven: the token came through it.
        user.email_verified = true;
        user.updated_at = now;
        true
    })
}

/// Writes `change` (with `credential`, if any) over `user` as read,
/// conditional on its version; while the row keeps moving, redone up to
/// [`ATTEMPTS`] times on the account `reread` reads again. A `change` that
/// answers `false` has nothing to write. The account as stored.
fn write_fresh(
    users: &dyn UserRepository,
    mut user: User,
    reread: impl Fn() -> Result<User, ResetError>,
    credential: Option<&Credential>,
    change: impl Fn(&mut User) -> bool,
) -> Result<User, ResetError> {
    let mut tries = 1;
    loop {
        if !change(&mut user) {
            return Ok(user);
        }
        match users.update(&user, credential) {
            Ok(()) => {
                user.version += 1;
                return Ok(user);
            }
            // Only a new address can collide with another account's.
            Err(RepoError::Conflict { .. }) => return Err(ResetError::EmailTaken),
            Err(RepoError::Stale) if tries < ATTEMPTS => {
                tries += 1;
                user = reread()?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Marks the address a verification `token` was mailed to as proven, at
/// `now` (seconds), if the account still has it: the account as stored.
pub fn verify_email(
    users: &dyn UserRepository,
    tokens: &dyn OneTimeTokens,
    token: &str,
    now: i64,
) -> Result<User, ResetError> {
    let hash = token_hash(token).ok_or(ResetError::InvalidToken)?;
    let spent = tokens
        .spend(&hash, Purpose::Verification, now)?
        .ok_or(ResetError::InvalidToken)?;
    let address = Email::parse(&spent.address).map_err(|_| ResetError::InvalidToken)?;
    let read = || -> Result<User, ResetError> {
        users
            .by_email(&address)?
            .map(|(user, _)| user)
            .filter(|u| u.id == spent.user_id)
            .ok_or(ResetError::InvalidToken)
    };
    write_fresh(users, read()?, read, None, |user| {
        if user.email_verified {
            return false;
        }
        user.email_verified = true;
        user.updated_at = now;
        true
    })
}

/// Applies the e-mail change a confirmation `token` was mailed for, at
/// `now` (seconds): the account moves to the address the token was sent
/// to, which counts as verified. `EmailTaken` when another account has
/// taken that address meanwhile.
pub fn confirm_email_change(
    users: &dyn UserRepository,
    tokens: &dyn OneTimeTokens,
    token: &str,
    now: i64,
) -> Result<User, ResetError> {
    let hash = token_hash(token).ok_or(ResetError::InvalidToken)?;
    let spent = tokens
        .spend(&hash, Purpose::EmailChange, now)?
        .ok_or(ResetError::InvalidToken)?;
    let address = Email::parse(&spent.address).map_err(|_| ResetError::InvalidToken)?;
    let read = || -> Result<User, ResetError> {
        users
            .by_id(&spent.user_id)?
            .filter(|u| !u.disabled)
            .ok_or(ResetError::InvalidToken)
    };
    write_fresh(users, read()?, read, None, |user| {
        user.email = address.clone();
        user.email_verified = true;
        user.updated_at = now;
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{InMemoryOneTimeTokens, InMemoryUsers, sample_user};
    use crate::hashing::{Credential, HashParams};
    use crate::one_time::{OneTimeKey, OneTimeToken};
    use crate::random::testing::SeededRandom;
    use crate::user::Role;

    const T0_MS: i64 = 1_800_000_000_000;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(HashParams {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        })
        .expect("params")
    }

    /// Ada, and a reset token mailed to her address, valid for 30 minutes.
    fn setup() -> (InMemoryUsers, InMemoryOneTimeTokens, User, String) {
        let users = InMemoryUsers::default();
        let ada = sample_user(1, "ada@example.com", vec![Role::User]);
        users
            .insert(&ada, &Credential::from_phc(String::new()))
            .expect("insert");
        let tokens = InMemoryOneTimeTokens::default();
        let token = OneTimeKey::derive(b"k").token(Purpose::PasswordReset, "job-1");
        let stored = OneTimeToken {
            token_hash: token_hash(&token).expect("hash"),
            purpose: Purpose::PasswordReset,
            user_id: ada.id.clone(),
            address: ada.email.to_string(),
            expires_at: T0_MS / 1000 + 1800,
        };
        tokens.store(&stored, T0_MS / 1000).expect("store");
        (users, tokens, ada, token)
    }

    fn reset(
        users: &InMemoryUsers,
        tokens: &InMemoryOneTimeTokens,
        token: &str,
        password: &str,
        now_ms: i64,
    ) -> Result<User, ResetError> {
        let mut random = SeededRandom::new(2);
        reset_password(
            users,
            tokens,
            &hasher(),
            &mut random,
            token,
            password.into(),
            now_ms,
        )
    }

    #[test]
    fn a_token_resets_the_password_once_and_cuts_every_session() {
        let (users, tokens, ada, token) = setup();
        let user = reset(&users, &tokens, &token, "a new passphrase", T0_MS).expect("reset");
        assert!(!user.sessions.allows(Some("00000000000older"), T0_MS / 1000));
        let (_, credential) = users.by_email(&ada.email).expect("read").expect("ada");
        let verified = hasher().verify(&Password::new("a new passphrase".into()), &credential);
        assert!(verified.expect("verify").matches);
        let again = reset(&users, &tokens, &token, "another passphrase", T0_MS);
        assert!(matches!(again, Err(ResetError::InvalidToken)), "spent");
    }

    #[test]
    fn a_refused_password_leaves_the_token_usable() {
        let (users, tokens, _, token) = setup();
        let short = reset(&users, &tokens, &token, "short", T0_MS);
        assert!(matches!(short, Err(ResetError::Password(_))));
        let own_email = reset(&users, &tokens, &token, "ada@example.com", T0_MS);
        assert!(matches!(own_email, Err(ResetError::Password(_))));
        assert!(reset(&users, &tokens, &token, "a new passphrase", T0_MS).is_ok());
    }

    #[test]
    fn expired_made_up_and_moved_tokens_are_one_invalid_token() {
        let (users, tokens, mut ada, token) = setup();
        let late = T0_MS + 1801 * 1000;
        for (token, now) in [(token.as_str(), late), ("made-up", T0_MS), ("", T0_MS)] {
            let refused = reset(&users, &tokens, token, "a new passphrase", now);
            assert!(matches!(refused, Err(ResetError::InvalidToken)), "{token}");
        }
        ada.email = crate::email::Email::parse("ada@elsewhere.test").expect("email");
        users.update(&ada, None).expect("a new address");
        let moved = reset(&users, &tokens, &token, "a new passphrase", T0_MS);
        assert!(
            matches!(moved, Err(ResetError::InvalidToken)),
            "mailed to the old one"
        );
    }
}
