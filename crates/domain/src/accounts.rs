//! Account flows: registration and password authentication. They orchestrate
//! validation, hashing and the repository; callers supply the clock and the
//! random source.

use crate::email::Email;
use crate::hashing::{Credential, HashError, PasswordHasher};
use crate::name::DisplayName;
use crate::password::Password;
use crate::random::Random;
use crate::revocation::SessionState;
use crate::second_factor::SecondFactorError;
use crate::user::{RepoError, Role, User, UserId, UserRepository};
use crate::validation::{FieldError, ValidationErrors};

/// A registration request as received (already decoded from JSON or form).
#[derive(Debug)]
pub struct Registration {
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Chosen password.
    pub password: Password,
    /// An address nobody may register (the configured administrator's,
    /// which the bootstrap creates at its first login).
    pub reserved_email: Option<String>,
}

/// Whether `email` is the reserved address (compared normalised).
fn is_reserved(email: &Email, reserved: Option<&str>) -> bool {
    reserved
        .and_then(|r| Email::parse(r).ok())
        .is_some_and(|r| r == *email)
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
    Storage(#[source] RepoError),
}

/// A new, enabled account with a fresh id, and the hash of `password`.
fn new_account(
    hasher: &PasswordHasher,
    random: &mut dyn Random,
    now: i64,
    email: Email,
    name: DisplayName,
    password: &Password,
    roles: Vec<Role>,
) -> Result<(User, Credential), HashError> {
    let credential = hasher.hash(password, random)?;
    let user = User {
        id: UserId::generate(random),
        email,
        name,
        roles,
        disabled: false,
        created_at: now,
        updated_at: now,
        version: 1,
        sessions: SessionState::default(),
        password_change_required: false,
        email_verified: false,
        mfa_enabled: false,
    };
    Ok((user, credential))
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
    Storage(#[from] RepoError),
}

/// A change to one's own account (`PATCH /users/me`). Changing the email or
/// the password needs the current password, so a stolen access token alone
/// cannot take the account over.
#[derive(Debug, Default)]
pub struct ProfileChange {
    /// New display name.
    pub name: Option<String>,
    /// New email.
    pub email: Option<String>,
    /// New password.
    pub password: Option<Password>,
    /// The current password, for email and password changes.
    pub current_password: Option<Password>,
    /// The session making the change: a new password ends every other.
    pub session: Option<String>,
    /// An address nobody may move to (see [`Registration`]).
    pub reserved_email: Option<String>,
    /// A new email is checked (format, reserved, current password) but not
    /// applied: the new address confirms it by mail first.
    pub email_by_confirmation: bool,
}

/// The second proof a change to how an account is proven needs once its
/// current password passed: the second factor, while one is on. Called
/// again when a write that lost a race is redone; a proof already given
/// in the request must pass again without being spent twice.
pub type StepUp<'a> = dyn FnMut(&User) -> Result<(), UpdateError> + 'a;

/// Why an account change failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// Some fields are invalid (including a missing or wrong current password).
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// The new email belongs to another account.
    #[error("email already registered")]
    EmailTaken,
    /// The account changed (or was deleted) since it was read; nothing was
    /// written. Read it again and retry, or report the conflict.
    #[error("the account changed since it was read")]
    Stale,
    /// The change would leave no active administrator.
    #[error("the last active administrator")]
    LastAdmin,
    /// The second factor the change needs was missing, wrong or locked.
    #[error(transparent)]
    SecondFactor(#[from] SecondFactorError),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[source] RepoError),
}

impl From<RepoError> for UpdateError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Conflict { .. } => Self::EmailTaken,
            RepoError::Stale => Self::Stale,
            RepoError::LastAdmin => Self::LastAdmin,
            other => Self::Storage(other),
        }
    }
}

impl From<FieldError> for UpdateError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(e.into())
    }
}

/// The account rules with what they work with: where users are stored,
/// the password hasher, the random source and the clock, so each rule
/// takes only its own inputs.
pub struct Accounts<'a> {
    /// Where users are stored.
    pub users: &'a dyn UserRepository,
    /// Hashes and verifies passwords.
    pub hasher: &'a PasswordHasher,
    /// Ids and salts.
    pub random: &'a mut dyn Random,
    /// Now, in milliseconds since the epoch.
    pub now_ms: i64,
}

impl Accounts<'_> {
    /// Now, in seconds.
    fn now(&self) -> i64 {
        self.now_ms.div_euclid(1000)
    }

    /// Checks `current` against the credential of `user` as read: a row
    /// that moved on since is `Stale` (the password checked may be gone).
    pub fn check_current_password(
        &self,
        user: &User,
        current: Option<&Password>,
    ) -> Result<(), UpdateError> {
        let field = "current_password";
        let Some(current) = current else {
            return Err(FieldError::new(
                field,
                "required",
                "give the current password to change this",
            )
            .into());
        };
        let credential = self
            .users
            .credential(&user.id, user.version)?
            .ok_or(UpdateError::Stale)?;
        if self.hasher.verify(current, &credential)?.matches {
            Ok(())
        } else {
            Err(FieldError::new(field, "incorrect", "the current password is not correct").into())
        }
    }

    /// Validates, hashes and stores a new account with the `user` role.
    pub fn register(&mut self, input: Registration) -> Result<User, RegisterError> {
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
        // Taken, as far as anyone registering can tell: a squatter must not
        // block the administrator's bootstrap for ever.
        if is_reserved(&email, input.reserved_email.as_deref()) {
            return Err(RegisterError::EmailTaken);
        }
        let now = self.now();
        let (user, credential) = new_account(
            self.hasher,
            self.random,
            now,
            email,
            name,
            &password,
            vec![Role::User],
        )?;
        match self.users.insert(&user, &credential) {
            Ok(()) => Ok(user),
            Err(RepoError::Conflict { .. }) => Err(RegisterError::EmailTaken),
            Err(e) => Err(RegisterError::Storage(e)),
        }
    }

    /// Checks an email and password. Unknown emails cost one dummy
    /// verification, the same work as a wrong password. A correct password
    /// whose hash uses old parameters is rehashed and stored.
    pub fn authenticate(&mut self, email: &str, password: &Password) -> Result<User, AuthError> {
        let user = match Email::parse(email) {
            Ok(email) => self.users.by_email(&email)?,
            Err(_) => None,
        };
        let Some((mut user, credential)) = user else {
            self.hasher.verify_dummy(password);
            return Err(AuthError::InvalidCredentials {
                reason: "unknown_email",
                user_id: None,
            });
        };
        let verification = self.hasher.verify(password, &credential)?;
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
            let upgraded = self.hasher.hash(password, self.random)?;
            // A row that changed meanwhile (a new password, a role change) is
            // left alone, and so is one whose cache cannot take the write
            // now: the upgrade waits for the next login, which goes on.
            match self.users.set_credential(&user, &upgraded, self.now()) {
                Ok(()) => user.version += 1,
                Err(RepoError::Stale | RepoError::Unavailable(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(user)
    }

    /// Creates the first administrator from configuration while the
    /// database has never had one: a one-time door, which deleting,
    /// demoting or renaming admins never opens again. The account must pick
    /// a new password before its tokens do anything else. Safe under
    /// concurrency: a concurrent creation wins and this returns `Ok(None)`;
    /// existing accounts are left exactly as they are.
    pub fn ensure_admin(
        &mut self,
        email: &str,
        password: &Password,
    ) -> Result<Option<User>, RegisterError> {
        let email = Email::parse(email).map_err(ValidationErrors::from)?;
        // The configured password obeys the rules every other one does.
        let password = Password::parse_new(password.expose().to_owned(), Some(&email))
            .map_err(ValidationErrors::from)?;
        // The cheap check spares every later admin login a hash.
        if self.users.has_had_admin().map_err(RegisterError::Storage)? {
            return Ok(None);
        }
        let name = DisplayName::parse("Administrator").map_err(ValidationErrors::from)?;
        let roles = vec![Role::User, Role::Admin];
        let now = self.now();
        let (mut user, credential) =
            new_account(self.hasher, self.random, now, email, name, &password, roles)?;
        user.password_change_required = true;
        // The operator configured the address: it needs no mailed proof
        // (and under `email_verification = "required"` the first login
        // must not wait for one).
        user.email_verified = true;
        match self.users.insert_first_admin(&user, &credential) {
            Ok(true) => Ok(Some(user)),
            Ok(false) | Err(RepoError::Conflict { .. }) => Ok(None),
            Err(e) => Err(RegisterError::Storage(e)),
        }
    }

    /// Applies `change` to `user` at `now_ms` (milliseconds) and stores it,
    /// conditional on the version read. A new password ends every session but
    /// the caller's for access tokens in the same write. Returns the updated
    /// user and whether the password changed (callers then revoke the other
    /// sessions' refresh tokens).
    ///
    /// A change of email or password needs the current password and then
    /// `step_up`, the account's second factor when one is on.
    pub fn update_profile(
        &mut self,
        mut user: User,
        change: ProfileChange,
        step_up: &mut StepUp<'_>,
    ) -> Result<(User, bool), UpdateError> {
        let mut errors = ValidationErrors::default();
        let name = change
            .name
            .as_deref()
            .map(DisplayName::parse)
            .and_then(|r| errors.check(r));
        let email = change
            .email
            .as_deref()
            .map(Email::parse)
            .and_then(|r| errors.check(r));
        let effective_email = email.clone().unwrap_or_else(|| user.email.clone());
        let password = change
            .password
            .map(|p| Password::parse_new(p.expose().to_owned(), Some(&effective_email)))
            .and_then(|r| errors.check(r));
        errors.into_result()?;
        let email_changes = email.as_ref().is_some_and(|e| *e != user.email);
        if email_changes
            && email
                .as_ref()
                .is_some_and(|e| is_reserved(e, change.reserved_email.as_deref()))
        {
            return Err(UpdateError::EmailTaken);
        }
        if email_changes || password.is_some() {
            self.check_current_password(&user, change.current_password.as_ref())?;
            step_up(&user)?;
        }
        if user.password_change_required
            && let (Some(new), Some(current)) = (&password, &change.current_password)
            && new.expose() == current.expose()
        {
            return Err(FieldError::new(
                "password",
                "unchanged",
                "choose a password other than the one you were given",
            )
            .into());
        }
        if change.email_by_confirmation && name.is_none() && password.is_none() {
            // Nothing to write until the new address confirms.
            return Ok((user, false));
        }
        if let Some(name) = name {
            user.name = name;
        }
        if let Some(email) = email.filter(|_| !change.email_by_confirmation) {
            if email != user.email {
                // Nobody has proven the new address yet.
                user.email_verified = false;
            }
            user.email = email;
        }
        let credential = match &password {
            Some(password) => {
                user.sessions
                    .cut_all(self.now_ms, change.session.as_deref());
                user.password_change_required = false;
                Some(self.hasher.hash(password, self.random)?)
            }
            None => None,
        };
        user.updated_at = self.now();
        self.users.update(&user, credential.as_ref())?;
        user.version += 1;
        Ok((user, credential.is_some()))
    }

    /// Deletes one's own account after checking the current password and
    /// `step_up`, if it is still as read (`Stale` otherwise: the password
    /// checked may be gone).
    pub fn delete_account(
        &self,
        user: &User,
        current_password: Option<&Password>,
        step_up: &mut StepUp<'_>,
    ) -> Result<(), UpdateError> {
        self.check_current_password(user, current_password)?;
        step_up(user)?;
        self.users.delete(&user.id, Some(user.version))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The step-up of an account without a second factor.
    fn no_factor(_: &User) -> Result<(), UpdateError> {
        Ok(())
    }
    use crate::fakes::InMemoryUsers;
    use crate::hashing::HashParams;
    use crate::random::testing::SeededRandom;

    use crate::hashing::tests::FAST;

    /// The account rules over the fakes at `now_ms`.
    fn service<'a>(
        repo: &'a InMemoryUsers,
        hasher: &'a PasswordHasher,
        random: &'a mut SeededRandom,
        now_ms: i64,
    ) -> Accounts<'a> {
        Accounts {
            users: repo,
            hasher,
            random,
            now_ms,
        }
    }

    /// Ada, registered with the password "correct horse".
    fn ada(repo: &InMemoryUsers, hasher: &PasswordHasher, random: &mut SeededRandom) -> User {
        service(repo, hasher, random, 1)
            .register(registration("ada@example.com", "correct horse"))
            .expect("registers")
    }

    fn registration(email: &str, password: &str) -> Registration {
        Registration {
            name: "Ada".into(),
            email: email.into(),
            password: Password::new(password.into()),
            reserved_email: None,
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
        let user = service(&repo, &hasher, &mut random, 100)
            .register(registration(" Ada@Example.com", "correct horse"))
            .expect("registers");
        assert_eq!(user.email.as_ref(), "ada@example.com");
        assert_eq!(user.roles, vec![Role::User]);
        let (stored, credential) = repo.by_email(&user.email).expect("read").expect("stored");
        assert_eq!(stored, user);
        assert!(credential.as_phc().starts_with("$argon2id$"));
        assert!(!credential.as_phc().contains("correct horse"));
    }

    #[test]
    fn registering_an_email_twice_in_any_case_is_a_conflict() {
        let (repo, hasher, mut random) = setup();
        service(&repo, &hasher, &mut random, 1)
            .register(registration("ada@example.com", "correct horse"))
            .expect("first");
        let again = service(&repo, &hasher, &mut random, 2)
            .register(registration("ADA@example.com", "other password"));
        assert!(matches!(again, Err(RegisterError::EmailTaken)));
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let (repo, hasher, mut random) = setup();
        let input = Registration {
            name: " ".into(),
            email: "not-an-email".into(),
            password: Password::new("short".into()),
            reserved_email: None,
        };
        let Err(RegisterError::Invalid(errors)) =
            service(&repo, &hasher, &mut random, 1).register(input)
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
        let user = ada(&repo, &hasher, &mut random);
        let ok = service(&repo, &hasher, &mut random, 2)
            .authenticate("ADA@example.com", &Password::new("correct horse".into()))
            .expect("authenticates");
        assert_eq!(ok.id, user.id);
        let wrong = service(&repo, &hasher, &mut random, 2)
            .authenticate("ada@example.com", &Password::new("wrong horse".into()));
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
            let result = service(&repo, &hasher, &mut random, 1)
                .authenticate(email, &Password::new("whatever1".into()));
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
        let mut user = ada(&repo, &hasher, &mut random);
        let credential = repo.credential(&user.id, user.version).expect("read");
        user.disabled = true;
        let repo = InMemoryUsers::default();
        repo.insert(&user, &credential.expect("stored"))
            .expect("insert disabled copy");
        let result = service(&repo, &hasher, &mut random, 2)
            .authenticate("ada@example.com", &Password::new("correct horse".into()));
        assert!(matches!(
            result,
            Err(AuthError::InvalidCredentials {
                reason: "disabled",
                ..
            })
        ));
    }

    fn change(
        name: Option<&str>,
        email: Option<&str>,
        password: Option<&str>,
        current: Option<&str>,
    ) -> ProfileChange {
        ProfileChange {
            name: name.map(str::to_owned),
            email: email.map(str::to_owned),
            password: password.map(|p| Password::new(p.to_owned())),
            current_password: current.map(|p| Password::new(p.to_owned())),
            session: None,
            reserved_email: None,
            email_by_confirmation: false,
        }
    }

    #[test]
    fn an_immediate_email_change_leaves_the_new_address_unproven() {
        let (repo, hasher, mut random) = setup();
        let mut user = ada(&repo, &hasher, &mut random);
        user.email_verified = true;
        repo.update(&user, None).expect("verified");
        user.version += 1;
        let moved = change(None, Some("ada@new.example"), None, Some("correct horse"));
        let (changed, _) = service(&repo, &hasher, &mut random, 3)
            .update_profile(user.clone(), moved, &mut no_factor)
            .expect("changes");
        assert_eq!(changed.email.as_ref(), "ada@new.example");
        assert!(!changed.email_verified);
        let renamed = change(Some("Ada L."), Some("ada@new.example"), None, None);
        let (same, _) = service(&repo, &hasher, &mut random, 4)
            .update_profile(changed, renamed, &mut no_factor)
            .expect("renames");
        assert_eq!(same.name.as_ref(), "Ada L.");
    }

    #[test]
    fn an_email_change_by_confirmation_checks_everything_and_writes_nothing() {
        let (repo, hasher, mut random) = setup();
        let user = ada(&repo, &hasher, &mut random);
        let mut deferred = change(None, Some("ada@new.example"), None, Some("correct horse"));
        deferred.email_by_confirmation = true;
        let (kept, _) = service(&repo, &hasher, &mut random, 3)
            .update_profile(user.clone(), deferred, &mut no_factor)
            .expect("checked");
        assert_eq!(kept, user, "nothing written");
        let mut wrong = change(None, Some("ada@new.example"), None, Some("wrong password"));
        wrong.email_by_confirmation = true;
        let refused =
            service(&repo, &hasher, &mut random, 3).update_profile(user, wrong, &mut no_factor);
        assert!(
            matches!(refused, Err(UpdateError::Invalid(_))),
            "{refused:?}"
        );
    }

    #[test]
    fn a_new_password_ends_every_other_session_in_the_same_write() {
        let (repo, hasher, mut random) = setup();
        let user = ada(&repo, &hasher, &mut random);
        let phone = crate::new_session_id(1_000, &mut random);
        let laptop = crate::new_session_id(1_500, &mut random);
        let mut with_session = change(None, None, Some("new password"), Some("correct horse"));
        with_session.session = Some(laptop.clone());

        let (changed, _) = service(&repo, &hasher, &mut random, 2_000)
            .update_profile(user, with_session, &mut no_factor)
            .expect("changes");

        let stored = repo.by_id(&changed.id).expect("reads").expect("exists");
        assert!(!stored.sessions.allows(Some(&phone), 2));
        assert!(stored.sessions.allows(Some(&laptop), 2));
        let later = crate::new_session_id(2_001, &mut random);
        assert!(stored.sessions.allows(Some(&later), 3));
    }

    #[test]
    fn a_change_based_on_an_old_read_writes_nothing() {
        let (repo, hasher, mut random) = setup();
        let read = ada(&repo, &hasher, &mut random);
        let (renamed, _) = service(&repo, &hasher, &mut random, 2)
            .update_profile(
                read.clone(),
                change(Some("Ada L."), None, None, None),
                &mut no_factor,
            )
            .expect("first change");

        let late = service(&repo, &hasher, &mut random, 3).update_profile(
            read.clone(),
            change(None, None, Some("another password"), Some("correct horse")),
            &mut no_factor,
        );
        let late_delete = service(&repo, &hasher, &mut random, 0).delete_account(
            &read,
            Some(&Password::new("correct horse".into())),
            &mut no_factor,
        );

        assert!(matches!(late, Err(UpdateError::Stale)), "{late:?}");
        assert!(matches!(late_delete, Err(UpdateError::Stale)));
        assert_eq!(repo.by_id(&read.id).expect("reads"), Some(renamed));
    }

    #[test]
    fn the_second_factor_is_asked_after_the_password_and_only_for_what_proves_the_account() {
        let (repo, hasher, mut random) = setup();
        let user = ada(&repo, &hasher, &mut random);
        let asked = std::cell::Cell::new(0);
        let mut refuse = |_: &User| -> Result<(), UpdateError> {
            asked.set(asked.get() + 1);
            Err(SecondFactorError::Required.into())
        };
        let renamed = service(&repo, &hasher, &mut random, 2)
            .update_profile(user, change(Some("Ada L."), None, None, None), &mut refuse)
            .expect("a new name needs no second factor")
            .0;
        assert_eq!(asked.get(), 0);
        let wrong_password = service(&repo, &hasher, &mut random, 3).update_profile(
            renamed.clone(),
            change(None, None, Some("another password"), Some("wrong one")),
            &mut refuse,
        );
        assert!(matches!(wrong_password, Err(UpdateError::Invalid(_))));
        assert_eq!(asked.get(), 0, "a wrong password spends no second factor");
        for refused in [
            service(&repo, &hasher, &mut random, 3).update_profile(
                renamed.clone(),
                change(None, None, Some("another password"), Some("correct horse")),
                &mut refuse,
            ),
            service(&repo, &hasher, &mut random, 3).update_profile(
                renamed.clone(),
                change(None, Some("ada@new.example"), None, Some("correct horse")),
                &mut refuse,
            ),
        ] {
            assert!(matches!(
                refused,
                Err(UpdateError::SecondFactor(SecondFactorError::Required))
            ));
        }
        let delete = service(&repo, &hasher, &mut random, 3).delete_account(
            &renamed,
            Some(&Password::new("correct horse".into())),
            &mut refuse,
        );
        assert!(matches!(delete, Err(UpdateError::SecondFactor(_))));
        assert_eq!(asked.get(), 3);
        assert_eq!(repo.by_id(&renamed.id).expect("reads"), Some(renamed));
    }

    #[test]
    fn a_name_change_needs_no_password_but_email_and_password_changes_do() {
        let (repo, hasher, mut random) = setup();
        let user = ada(&repo, &hasher, &mut random);
        let (renamed, pw_changed) = service(&repo, &hasher, &mut random, 2)
            .update_profile(
                user.clone(),
                change(Some("Ada L."), None, None, None),
                &mut no_factor,
            )
            .expect("rename");
        assert_eq!(renamed.name.as_ref(), "Ada L.");
        assert!(!pw_changed);
        let no_current = service(&repo, &hasher, &mut random, 3).update_profile(
            renamed.clone(),
            change(None, Some("new@example.com"), None, None),
            &mut no_factor,
        );
        assert!(matches!(no_current, Err(UpdateError::Invalid(e)) if e.0[0].code == "required"));
        let wrong = service(&repo, &hasher, &mut random, 3).update_profile(
            renamed.clone(),
            change(None, None, Some("new password"), Some("nope nope")),
            &mut no_factor,
        );
        assert!(matches!(wrong, Err(UpdateError::Invalid(e)) if e.0[0].code == "incorrect"));
        let (moved, pw_changed) = service(&repo, &hasher, &mut random, 4)
            .update_profile(
                renamed,
                change(
                    None,
                    Some("New@Example.com"),
                    Some("new password"),
                    Some("correct horse"),
                ),
                &mut no_factor,
            )
            .expect("email and password change");
        assert!(pw_changed);
        assert_eq!(moved.email.as_ref(), "new@example.com");
        assert!(
            service(&repo, &hasher, &mut random, 5)
                .authenticate("new@example.com", &Password::new("new password".into()))
                .is_ok()
        );
    }

    #[test]
    fn the_first_admin_is_created_once_and_never_altered() {
        let (repo, hasher, mut random) = setup();
        let pw = Password::new("admin password".into());
        let created = service(&repo, &hasher, &mut random, 1)
            .ensure_admin("Root@Example.com", &pw)
            .expect("creates");
        assert!(created.is_some_and(|u| u.has_role(Role::Admin)));
        let again = service(&repo, &hasher, &mut random, 2)
            .ensure_admin("root@example.com", &Password::new("other one".into()))
            .expect("idempotent");
        assert!(again.is_none());
        assert!(
            service(&repo, &hasher, &mut random, 3)
                .authenticate("root@example.com", &pw)
                .is_ok(),
            "first password kept"
        );
    }

    #[test]
    fn renaming_or_deleting_the_first_admin_never_reopens_the_bootstrap() {
        let (repo, hasher, mut random) = setup();
        let pw = Password::new("admin password".into());
        let root = service(&repo, &hasher, &mut random, 1)
            .ensure_admin("root@example.com", &pw)
            .expect("creates")
            .expect("the first");
        let renamed = change(
            None,
            Some("renamed@example.com"),
            None,
            Some("admin password"),
        );
        let root = service(&repo, &hasher, &mut random, 2)
            .update_profile(root, renamed, &mut no_factor)
            .expect("renamed")
            .0;
        let again = service(&repo, &hasher, &mut random, 3).ensure_admin("root@example.com", &pw);
        assert!(
            again.expect("no error").is_none(),
            "a rename re-arms nothing"
        );

        let mut ada = ada(&repo, &hasher, &mut random);
        ada.roles.push(Role::Admin);
        repo.update(&ada, None).expect("a second admin");
        assert!(repo.delete(&root.id, None).expect("deleted"));
        let again = service(&repo, &hasher, &mut random, 4).ensure_admin("root@example.com", &pw);
        assert!(
            again.expect("no error").is_none(),
            "a deletion re-arms nothing"
        );
        let root = Email::parse("root@example.com").expect("valid");
        assert_eq!(repo.by_email(&root).expect("reads"), None);
    }

    #[test]
    fn the_first_admin_must_pick_a_password_other_than_the_configured_one() {
        let (repo, hasher, mut random) = setup();
        let root = service(&repo, &hasher, &mut random, 1)
            .ensure_admin("root@example.com", &Password::new("admin password".into()))
            .expect("creates")
            .expect("the first");
        assert!(root.password_change_required);
        let same = change(None, None, Some("admin password"), Some("admin password"));
        let refused = service(&repo, &hasher, &mut random, 2).update_profile(
            root.clone(),
            same,
            &mut no_factor,
        );
        assert!(
            matches!(refused, Err(UpdateError::Invalid(ref e)) if e.0[0].code == "unchanged"),
            "{refused:?}"
        );
        let renamed = change(Some("Root"), None, None, None);
        let (root, _) = service(&repo, &hasher, &mut random, 3)
            .update_profile(root, renamed, &mut no_factor)
            .expect("renamed");
        assert!(
            root.password_change_required,
            "only a new password lifts it"
        );
        let new = change(None, None, Some("a new secret"), Some("admin password"));
        let (root, changed) = service(&repo, &hasher, &mut random, 4)
            .update_profile(root, new, &mut no_factor)
            .expect("changed");
        assert!(changed && !root.password_change_required);
        let stored = repo.by_id(&root.id).expect("reads").expect("exists");
        assert!(!stored.password_change_required, "stored lifted");
    }

    #[test]
    fn the_reserved_admin_email_cannot_be_squatted_and_a_weak_admin_password_is_refused() {
        let (repo, hasher, mut random) = setup();
        let mut squat = registration("ROOT@example.com", "correct horse");
        squat.reserved_email = Some("root@example.com".into());
        assert!(matches!(
            service(&repo, &hasher, &mut random, 1).register(squat),
            Err(RegisterError::EmailTaken)
        ));
        let ada = ada(&repo, &hasher, &mut random);
        let mut moving = change(None, Some("root@example.com"), None, Some("correct horse"));
        moving.reserved_email = Some("root@example.com".into());
        assert!(matches!(
            service(&repo, &hasher, &mut random, 2).update_profile(ada, moving, &mut no_factor),
            Err(UpdateError::EmailTaken)
        ));

        let weak = service(&repo, &hasher, &mut random, 3)
            .ensure_admin("root@example.com", &Password::new("short".into()));
        assert!(
            matches!(weak, Err(RegisterError::Invalid(ref e)) if e.0[0].code == "too_short"),
            "{weak:?}"
        );
        let root = Email::parse("root@example.com").expect("valid");
        assert_eq!(
            repo.by_email(&root).expect("reads"),
            None,
            "nothing created"
        );
    }

    #[test]
    fn deleting_an_account_needs_the_current_password() {
        let (repo, hasher, mut random) = setup();
        let user = ada(&repo, &hasher, &mut random);
        assert!(
            service(&repo, &hasher, &mut random, 0)
                .delete_account(
                    &user,
                    Some(&Password::new("wrong one".into())),
                    &mut no_factor
                )
                .is_err()
        );
        service(&repo, &hasher, &mut random, 0)
            .delete_account(
                &user,
                Some(&Password::new("correct horse".into())),
                &mut no_factor,
            )
            .expect("deleted");
        assert_eq!(repo.by_id(&user.id).expect("read"), None);
    }

    #[test]
    fn a_login_with_old_hash_parameters_upgrades_the_stored_hash() {
        let (repo, old_hasher, mut random) = setup();
        let user = ada(&repo, &old_hasher, &mut random);
        let new_hasher = PasswordHasher::new(HashParams {
            memory_kib: 128,
            ..FAST
        })
        .expect("params");
        service(&repo, &new_hasher, &mut random, 5_000)
            .authenticate("ada@example.com", &Password::new("correct horse".into()))
            .expect("authenticates");
        let stored = repo.by_id(&user.id).expect("read").expect("exists");
        let credential = repo.credential(&user.id, stored.version).expect("read");
        let credential = credential.expect("at the version just read");
        assert!(credential.as_phc().contains("m=128"), "{credential:?}");
        assert_eq!(stored.updated_at, 5);
        assert!(
            new_hasher
                .verify(&Password::new("correct horse".into()), &credential)
                .expect("verify")
                .matches
        );
    }
}
