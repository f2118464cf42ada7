//! Account flows: registration and password authentication. They orchestrate
//! validation, hashing and the repository; callers supply the clock and the
//! random source.

use crate::email::Email;
use crate::hashing::{HashError, PasswordHasher};
use crate::name::DisplayName;
use crate::password::Password;
use crate::random::Random;
use crate::user::{RepoError, Role, User, UserId, UserRepository};
use crate::validation::ValidationErrors;

/// A registration request as received (already decoded from JSON or form).
#[derive(Debug)]
pub struct Registration {
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Chosen password.
    pub password: Password,
}

/// Why registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Some fields are invalid.
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// An account with this email exists.
    #[error("email already registered")]
    EmailTaken,
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(String),
}

/// Validates, hashes and stores a new account with the `user` role.
pub fn register(
    repo: &dyn UserRepository,
    hasher: &PasswordHasher,
    random: &mut dyn Random,
    now: i64,
    input: Registration,
) -> Result<User, RegisterError> {
    let mut errors = ValidationErrors::default();
    let name = errors.check(DisplayName::parse(&input.name));
    let email = errors.check(Email::parse(&input.email));
    let password = errors.check(Password::parse_new(
        input.password.expose().to_owned(),
        email.as_ref(),
    ));
    errors.into_result()?;
    let (Some(name), Some(email), Some(password)) = (name, email, password) else {
        unreachable!("no errors means every field parsed");
    };
    let user = User {
        id: UserId::generate(random),
        email,
        name,
        roles: vec![Role::User],
        disabled: false,
        password_hash: hasher.hash(&password, random)?,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    match repo.insert(&user) {
        Ok(()) => Ok(user),
        Err(RepoError::Conflict { .. }) => Err(RegisterError::EmailTaken),
        Err(RepoError::Storage(e)) => Err(RegisterError::Storage(e)),
    }
}

/// Why authentication failed. Every credential problem is the same variant,
/// so callers cannot leak which part was wrong.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown email, wrong password, or disabled account.
    #[error("invalid credentials ({reason})")]
    InvalidCredentials {
        /// For the audit log only: `unknown_email`, `wrong_password`, `disabled`.
        reason: &'static str,
        /// The account, when it exists (for lockout counting and audit).
        user_id: Option<UserId>,
    },
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(String),
}

impl From<RepoError> for AuthError {
    fn from(e: RepoError) -> Self {
        Self::Storage(e.to_string())
    }
}

/// Checks an email and password. Unknown emails cost one dummy
/// verification, the same work as a wrong password. A correct password
/// whose hash uses old parameters is rehashed and stored.
pub fn authenticate(
    repo: &dyn UserRepository,
    hasher: &PasswordHasher,
    random: &mut dyn Random,
    now: i64,
    email: &str,
    password: &Password,
) -> Result<User, AuthError> {
    let user = match Email::parse(email) {
        Ok(email) => repo.by_email(&email)?,
        Err(_) => None,
    };
    let Some(mut user) = user else {
        hasher.verify_dummy(password);
        return Err(AuthError::InvalidCredentials {
            reason: "unknown_email",
            user_id: None,
        });
    };
    let verification = hasher.verify(password, &user.password_hash)?;
    if !verification.matches {
        return Err(AuthError::InvalidCredentials {
            reason: "wrong_password",
            user_id: Some(user.id),
        });
    }
    if user.disabled {
        return Err(AuthError::InvalidCredentials {
            reason: "disabled",
            user_id: Some(user.id),
        });
    }
    if verification.needs_rehash {
        let hash = hasher.hash(password, random)?;
        repo.set_password_hash(&user.id, &hash, now)?;
        user.password_hash = hash;
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::InMemoryUsers;
    use crate::hashing::HashParams;
    use crate::random::testing::SeededRandom;

    const FAST: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn registration(email: &str, password: &str) -> Registration {
        Registration {
            name: "Ada".into(),
            email: email.into(),
            password: Password::new(password.into()),
        }
    }

    fn setup() -> (InMemoryUsers, PasswordHasher, SeededRandom) {
        (
            InMemoryUsers::default(),
            PasswordHasher::new(FAST).expect("params"),
            SeededRandom::new(11),
        )
    }

    #[test]
    fn registration_stores_a_normalised_user_with_a_hash() {
        let (repo, hasher, mut random) = setup();
        let user = register(
            &repo,
            &hasher,
            &mut random,
            100,
            registration(" Ada@Example.com", "correct horse"),
        )
        .expect("registers");
        assert_eq!(user.email.as_ref(), "ada@example.com");
        assert_eq!(user.roles, vec![Role::User]);
        assert!(user.password_hash.starts_with("$argon2id$"));
        assert!(!user.password_hash.contains("correct horse"));
        assert_eq!(repo.by_id(&user.id).expect("read"), Some(user));
    }

    #[test]
    fn registering_an_email_twice_in_any_case_is_a_conflict() {
        let (repo, hasher, mut random) = setup();
        register(
            &repo,
            &hasher,
            &mut random,
            1,
            registration("ada@example.com", "correct horse"),
        )
        .expect("first");
        let again = register(
            &repo,
            &hasher,
            &mut random,
            2,
            registration("ADA@example.com", "other password"),
        );
        assert!(matches!(again, Err(RegisterError::EmailTaken)));
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let (repo, hasher, mut random) = setup();
        let input = Registration {
            name: " ".into(),
            email: "not-an-email".into(),
            password: Password::new("short".into()),
        };
        let Err(RegisterError::Invalid(errors)) = register(&repo, &hasher, &mut random, 1, input)
        else {
            panic!("expected validation errors");
        };
        let fields: Vec<_> = errors.0.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            fields,
            vec![
                ("name", "required"),
                ("email", "invalid"),
                ("password", "too_short")
            ]
        );
        assert_eq!(*repo.calls.borrow(), 0, "nothing stored");
    }

    #[test]
    fn authentication_accepts_the_right_password_only() {
        let (repo, hasher, mut random) = setup();
        let user = register(
            &repo,
            &hasher,
            &mut random,
            1,
            registration("ada@example.com", "correct horse"),
        )
        .expect("registers");
        let ok = authenticate(
            &repo,
            &hasher,
            &mut random,
            2,
            "ADA@example.com",
            &Password::new("correct horse".into()),
        )
        .expect("authenticates");
        assert_eq!(ok.id, user.id);
        let wrong = authenticate(
            &repo,
            &hasher,
            &mut random,
            2,
            "ada@example.com",
            &Password::new("wrong horse".into()),
        );
        assert!(matches!(
            wrong,
            Err(AuthError::InvalidCredentials {
                reason: "wrong_password",
                user_id: Some(_)
            })
        ));
    }

    #[test]
    fn unknown_and_malformed_emails_fail_like_a_wrong_password() {
        let (repo, hasher, mut random) = setup();
        for email in ["nobody@example.com", "not an email", ""] {
            let result = authenticate(
                &repo,
                &hasher,
                &mut random,
                1,
                email,
                &Password::new("whatever1".into()),
            );
            assert!(
                matches!(
                    result,
                    Err(AuthError::InvalidCredentials {
                        reason: "unknown_email",
                        user_id: None
                    })
                ),
                "{email:?}"
            );
        }
    }

    #[test]
    fn disabled_accounts_cannot_authenticate() {
        let (repo, hasher, mut random) = setup();
        let mut user = register(
            &repo,
            &hasher,
            &mut random,
            1,
            registration("ada@example.com", "correct horse"),
        )
        .expect("registers");
        user.disabled = true;
        let repo = InMemoryUsers::default();
        repo.insert(&user).expect("insert disabled copy");
        let result = authenticate(
            &repo,
            &hasher,
            &mut random,
            2,
            "ada@example.com",
            &Password::new("correct horse".into()),
        );
        assert!(matches!(
            result,
            Err(AuthError::InvalidCredentials {
                reason: "disabled",
                ..
            })
        ));
    }

    #[test]
    fn a_login_with_old_hash_parameters_upgrades_the_stored_hash() {
        let (repo, old_hasher, mut random) = setup();
        let user = register(
            &repo,
            &old_hasher,
            &mut random,
            1,
            registration("ada@example.com", "correct horse"),
        )
        .expect("registers");
        let new_hasher = PasswordHasher::new(HashParams {
            memory_kib: 128,
            ..FAST
        })
        .expect("params");
        authenticate(
            &repo,
            &new_hasher,
            &mut random,
            5,
            "ada@example.com",
            &Password::new("correct horse".into()),
        )
        .expect("authenticates");
        let stored = repo.by_id(&user.id).expect("read").expect("exists");
        assert!(
            stored.password_hash.contains("m=128"),
            "{}",
            stored.password_hash
        );
        assert_eq!(stored.updated_at, 5);
        assert!(
            new_hasher
                .verify(
                    &Password::new("correct horse".into()),
                    &stored.password_hash
                )
                .expect("verify")
                .matches
        );
    }
}
