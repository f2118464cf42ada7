//! The passkeys of accounts: the challenges of both ceremonies, the stored
//! credentials, and registration and sign-in over the checks of
//! [`crate::webauthn`].
//!
//! A challenge is a one-time token ([`OneTimeTokens`]): 256 random bits,
//! stored only as a hash, bound to its ceremony by its purpose (a
//! registration challenge never finishes a sign-in, nor the other way
//! round), alive [`PASSKEY_CHALLENGE_LIFETIME_SECS`] and spent by one
//! conditional `DELETE` before the response is verified, so a replayed or
//! raced response finds nothing to spend.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::one_time::{OneTimeToken, OneTimeTokens, Purpose, token_hash};
use crate::random::Random;
use crate::second_factor::{LoginMethod, mfa_binding};
use crate::user::{RepoError, User, UserId, UserRepository};
use crate::validation::FieldError;
use crate::webauthn::{
    Assertion, AuthenticatorFlags, PasskeyError, RelyingParty, StoredCredential, base64url,
    challenge_of,
};

/// How long a challenge of either ceremony lives.
pub const PASSKEY_CHALLENGE_LIFETIME_SECS: i64 = 5 * 60;
/// Random bytes in a challenge (WebAuthn asks for at least 16).
const CHALLENGE_BYTES: usize = 32;
/// Passkeys one account may hold: a bound on `excludeCredentials`.
pub const MAX_PASSKEYS: usize = 20;
/// Longest passkey name, in characters.
pub const MAX_PASSKEY_NAME_CHARS: usize = 64;
/// The name of a passkey registered without one.
const DEFAULT_PASSKEY_NAME: &str = "Passkey";
/// Who a sign-in challenge is bound to: no account yet (a discoverable
/// credential names its account only in the answer), stored as the nil
/// UUID, which no account has.
const ANYONE: &str = "00000000-0000-0000-0000-000000000000";

/// A registered passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    /// The credential id, base64url.
    pub id: String,
    /// Its account.
    pub user_id: UserId,
    /// What its owner calls it.
    pub name: String,
    /// Its COSE public key.
    pub public_key: Vec<u8>,
    /// Its COSE algorithm.
    pub algorithm: i64,
    /// The last signature counter seen.
    pub sign_count: u32,
    /// BE at registration: whether it may be synced to other devices.
    pub backup_eligible: bool,
    /// The authenticator model (AAGUID), hex.
    pub aaguid: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// The last sign-in with it, seconds since the epoch.
    pub last_used_at: Option<i64>,
}

/// Storage of passkeys (`spin-users-store`). Every write is one statement
/// conditional on what was read.
pub trait PasskeyRepository {
    /// Stores `passkey` unless its credential id is registered already (to
    /// any account) or its account holds [`MAX_PASSKEYS`]; whether it did.
    fn insert(&self, passkey: &Passkey) -> Result<bool, RepoError>;

    /// The passkey with credential id `id`.
    fn by_id(&self, id: &str) -> Result<Option<Passkey>, RepoError>;

    /// The passkeys of `user`, oldest first.
    fn of_user(&self, user: &UserId) -> Result<Vec<Passkey>, RepoError>;

    /// Records a sign-in at `now` that moved the counter to `count`, if it
    /// is still `read`; whether it did.
    fn record_use(&self, id: &str, read: u32, count: u32, now: i64) -> Result<bool, RepoError>;

    /// Removes the passkey `id` of `user`; whether there was one.
    fn delete(&self, user: &UserId, id: &str) -> Result<bool, RepoError>;

    /// Removes every passkey of `user` (a deleted account); how many.
    fn delete_all(&self, user: &UserId) -> Result<u64, RepoError>;
}

/// A registration as the browser returns it (`RegistrationResponseJSON`),
/// binary fields in base64url.
#[derive(Debug, Clone, Default)]
pub struct RegistrationResponse {
    /// The credential id.
    pub id: String,
    /// `response.clientDataJSON`.
    pub client_data_json: String,
    /// `response.attestationObject`.
    pub attestation_object: String,
}

/// A sign-in as the browser returns it (`AuthenticationResponseJSON`),
/// binary fields in base64url.
#[derive(Debug, Clone, Default)]
pub struct AssertionResponse {
    /// The credential id.
    pub id: String,
    /// `response.clientDataJSON`.
    pub client_data_json: String,
    /// `response.authenticatorData`.
    pub authenticator_data: String,
    /// `response.signature`.
    pub signature: String,
    /// `response.userHandle`: the account, as registration named it.
    pub user_handle: Option<String>,
}

/// What a registration's options carry besides the relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreationChallenge {
    /// The challenge, base64url.
    pub challenge: String,
    /// The user handle: the account id, base64url (no personal data).
    pub user_handle: String,
    /// The credential ids the account holds already.
    pub exclude: Vec<String>,
}

/// A passkey sign-in that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeySignIn {
    /// The account.
    pub user: User,
    /// The passkey's credential id.
    pub passkey: String,
    /// What the authenticator reported.
    pub flags: AuthenticatorFlags,
}

impl PasskeySignIn {
    /// The `amr` the session carries (RFC 8176): `hwk` for a passkey bound
    /// to its device (BE clear), `swk` for one that may be synced (BE set,
    /// its key possibly in software or the cloud); `user` always, as user
    /// verification is required. A passkey is both factors at once.
    pub fn method(&self) -> LoginMethod {
        if self.flags.backup_eligible {
            LoginMethod::SyncedPasskey
        } else {
            LoginMethod::DeviceBoundPasskey
        }
    }
}

/// Why a ceremony failed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyFlowError {
    /// The response is not one WebAuthn defines, or a check of §7.1 or
    /// §7.2 failed.
    #[error(transparent)]
    Rejected(#[from] PasskeyError),
    /// The challenge is unknown, expired, spent, of the other ceremony or
    /// of another account (or the account changed since).
    #[error("the challenge is not valid ({0})")]
    Challenge(&'static str),
    /// No passkey has this credential id, or its account is gone or
    /// disabled.
    #[error("no such passkey")]
    UnknownCredential,
    /// The credential id is registered already.
    #[error("the passkey is registered already")]
    AlreadyRegistered,
    /// The account holds [`MAX_PASSKEYS`].
    #[error("the account holds {MAX_PASSKEYS} passkeys")]
    TooMany,
    /// The signature counter did not move forward: perhaps a cloned
    /// authenticator (§7.2 step 22). Refused, and to be recorded.
    #[error("passkey {passkey} of {user}: counter went from {stored} to {presented}")]
    CounterRegressed {
        /// The account.
        user: UserId,
        /// The credential id.
        passkey: String,
        /// The stored counter.
        stored: u32,
        /// The counter presented.
        presented: u32,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] RepoError),
}

/// The name a passkey is stored under: trimmed, printable, at most
/// [`MAX_PASSKEY_NAME_CHARS`]; [`DEFAULT_PASSKEY_NAME`] when absent or
/// blank.
pub fn passkey_name(input: Option<&str>) -> Result<String, FieldError> {
    let name = input.map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Ok(DEFAULT_PASSKEY_NAME.to_owned());
    }
    if name.chars().count() > MAX_PASSKEY_NAME_CHARS {
        return Err(FieldError::new(
            "name",
            "too_long",
            format!("at most {MAX_PASSKEY_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "invalid",
            "printable characters only",
        ));
    }
    Ok(name.to_owned())
}

/// The ceremonies of one request.
pub struct Passkeys<'a> {
    /// The relying party.
    pub rp: &'a RelyingParty,
    /// The stored passkeys.
    pub passkeys: &'a dyn PasskeyRepository,
    /// Where challenges live.
    pub challenges: &'a dyn OneTimeTokens,
    /// Seconds since the epoch.
    pub now: i64,
}

impl Passkeys<'_> {
    /// A registration challenge for `user`, bound to the account as it is
    /// now, with the credentials to exclude.
    pub fn registration_options(
        &self,
        user: &User,
        random: &mut dyn Random,
    ) -> Result<CreationChallenge, PasskeyFlowError> {
        let exclude: Vec<String> = self
            .passkeys
            .of_user(&user.id)?
            .into_iter()
            .map(|p| p.id)
            .collect();
        if exclude.len() >= MAX_PASSKEYS {
            return Err(PasskeyFlowError::TooMany);
        }
        let binding = mfa_binding(user);
        let challenge = self.issue(Purpose::PasskeyRegistration, &user.id, binding, random)?;
        Ok(CreationChallenge {
            challenge,
            user_handle: URL_SAFE_NO_PAD.encode(user.id.as_ref()),
            exclude,
        })
    }

    /// §7.1 for `user`: the challenge the response answers is spent, then
    /// the response is verified and the passkey stored under `name`.
    pub fn register(
        &self,
        user: &User,
        name: String,
        response: &RegistrationResponse,
    ) -> Result<Passkey, PasskeyFlowError> {
        let client_data = base64url(&response.client_data_json)?;
        let attestation = base64url(&response.attestation_object)?;
        let (challenge, spent) = self.spend(&client_data, Purpose::PasskeyRegistration)?;
        if spent.user_id != user.id || spent.address != mfa_binding(user) {
            return Err(PasskeyFlowError::Challenge(
                "another account, or it changed",
            ));
        }
        let credential = self
            .rp
            .verify_registration(&challenge, &client_data, &attestation)?;
        let id = URL_SAFE_NO_PAD.encode(&credential.id);
        if base64url(&response.id)? != credential.id {
            return Err(PasskeyError::Malformed("id is not the attested credential's").into());
        }
        let passkey = Passkey {
            id,
            user_id: user.id.clone(),
            name,
            public_key: credential.public_key,
            algorithm: credential.algorithm,
            sign_count: credential.sign_count,
            backup_eligible: credential.flags.backup_eligible,
            aaguid: credential
                .aaguid
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            created_at: self.now,
            last_used_at: None,
        };
        if self.passkeys.insert(&passkey)? {
            return Ok(passkey);
        }
        Err(match self.passkeys.by_id(&passkey.id)? {
            Some(_) => PasskeyFlowError::AlreadyRegistered,
            None => PasskeyFlowError::TooMany,
        })
    }

    /// A sign-in challenge, bound to no account.
    pub fn sign_in_options(&self, random: &mut dyn Random) -> Result<String, RepoError> {
        let anyone = UserId::parse(ANYONE).expect("the nil UUID is canonical");
        self.issue(Purpose::PasskeyLogin, &anyone, String::new(), random)
    }

    /// §7.2: the challenge the response answers is spent, then the
    /// assertion is verified against the passkey it names and the counter
    /// moved on by a write conditional on the counter read.
    pub fn sign_in(
        &self,
        users: &dyn UserRepository,
        response: &AssertionResponse,
    ) -> Result<PasskeySignIn, PasskeyFlowError> {
        let client_data = base64url(&response.client_data_json)?;
        let authenticator_data = base64url(&response.authenticator_data)?;
        let signature = base64url(&response.signature)?;
        let (challenge, _) = self.spend(&client_data, Purpose::PasskeyLogin)?;
        let passkey = self
            .passkeys
            .by_id(&response.id)?
            .ok_or(PasskeyFlowError::UnknownCredential)?;
        // Step 6: the handle must name the passkey's account.
        let handle = response
            .user_handle
            .as_deref()
            .ok_or(PasskeyError::Malformed("no userHandle"))?;
        if base64url(handle)? != passkey.user_id.as_ref().as_bytes() {
            return Err(PasskeyFlowError::UnknownCredential);
        }
        let stored = StoredCredential {
            public_key: passkey.public_key.clone(),
            sign_count: passkey.sign_count,
            backup_eligible: passkey.backup_eligible,
        };
        let assertion = Assertion {
            client_data_json: &client_data,
            authenticator_data: &authenticator_data,
            signature: &signature,
        };
        let verified = match self.rp.verify_assertion(&challenge, &stored, assertion) {
            Err(PasskeyError::CounterRegressed { stored, presented }) => {
                return Err(PasskeyFlowError::CounterRegressed {
                    user: passkey.user_id,
                    passkey: passkey.id,
                    stored,
                    presented,
                });
            }
            other => other?,
        };
        let user = users
            .by_id(&passkey.user_id)?
            .filter(|user| !user.disabled)
            .ok_or(PasskeyFlowError::UnknownCredential)?;
        let id = &passkey.id;
        if !self
            .passkeys
            .record_use(id, passkey.sign_count, verified.sign_count, self.now)?
        {
            return Err(PasskeyFlowError::Challenge(
                "a racing sign-in moved the counter",
            ));
        }
        Ok(PasskeySignIn {
            user,
            passkey: passkey.id,
            flags: verified.flags,
        })
    }

    /// Stores a fresh challenge of `purpose` bound to `user` and `address`.
    fn issue(
        &self,
        purpose: Purpose,
        user: &UserId,
        address: String,
        random: &mut dyn Random,
    ) -> Result<String, RepoError> {
        let mut bytes = Zeroizing::new([0u8; CHALLENGE_BYTES]);
        random.fill(bytes.as_mut());
        let challenge = URL_SAFE_NO_PAD.encode(bytes.as_ref());
        let stored = OneTimeToken {
            token_hash: crate::sessions::hash_token(&challenge),
            purpose,
            user_id: user.clone(),
            address,
            expires_at: self.now + PASSKEY_CHALLENGE_LIFETIME_SECS,
        };
        self.challenges.store(&stored, self.now)?;
        Ok(challenge)
    }

    /// Spends the challenge of `purpose` that `client_data` answers: its
    /// bytes and what it was bound to.
    fn spend(
        &self,
        client_data: &[u8],
        purpose: Purpose,
    ) -> Result<(Vec<u8>, OneTimeToken), PasskeyFlowError> {
        let challenge = challenge_of(client_data)?;
        let hash = token_hash(&challenge).ok_or(PasskeyFlowError::Challenge("malformed"))?;
        let spent =
            self.challenges
                .spend(&hash, purpose, self.now)?
                .ok_or(PasskeyFlowError::Challenge(
                    "unknown, expired, spent or of the other ceremony",
                ))?;
        Ok((base64url(&challenge)?, spent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{
        InMemoryOneTimeTokens, InMemoryPasskeys, InMemoryUsers, SoftAuthenticator, sample_user,
    };
    use crate::hashing::Credential;
    use crate::random::testing::SeededRandom;
    use crate::user::Role;

    const ORIGIN: &str = "https://id.example.com";

    struct World {
        rp: RelyingParty,
        passkeys: InMemoryPasskeys,
        challenges: InMemoryOneTimeTokens,
        users: InMemoryUsers,
        ada: User,
    }

    impl World {
        fn new() -> Self {
            let users = InMemoryUsers::default();
            let ada = sample_user(1, "ada@example.com", vec![Role::User]);
            users
                .insert(&ada, &Credential::from_phc("$argon2id$stub".into()))
                .expect("insert");
            Self {
                rp: RelyingParty {
                    id: "example.com".into(),
                    origins: vec![ORIGIN.into()],
                },
                passkeys: InMemoryPasskeys::default(),
                challenges: InMemoryOneTimeTokens::default(),
                users,
                ada,
            }
        }

        fn at(&self, now: i64) -> Passkeys<'_> {
            Passkeys {
                rp: &self.rp,
                passkeys: &self.passkeys,
                challenges: &self.challenges,
                now,
            }
        }

        /// Registers `authenticator` for Ada at `now`.
        fn register(&self, authenticator: &mut SoftAuthenticator, now: i64) -> Passkey {
            let options = self
                .at(now)
                .registration_options(&self.ada, &mut SeededRandom::new(now as u64))
                .expect("options");
            let response = authenticator.create(&options.challenge, &options.user_handle);
            self.at(now)
                .register(&self.ada, "Laptop".into(), &response)
                .expect("registration")
        }

        fn sign_in(
            &self,
            authenticator: &mut SoftAuthenticator,
            now: i64,
        ) -> Result<PasskeySignIn, PasskeyFlowError> {
            let challenge = self
                .at(now)
                .sign_in_options(&mut SeededRandom::new(now as u64 + 7))
                .expect("options");
            let response = authenticator.get(&challenge);
            self.at(now).sign_in(&self.users, &response)
        }
    }

    fn authenticator(seed: u64) -> SoftAuthenticator {
        SoftAuthenticator::new(seed, "example.com", ORIGIN)
    }

    #[test]
    fn the_fake_keeps_the_storage_contract() {
        let user = UserId::generate(&mut SeededRandom::new(1));
        let other = UserId::generate(&mut SeededRandom::new(2));
        crate::contract::passkeys_write_only_what_was_read(
            &InMemoryPasskeys::default(),
            &user,
            &other,
        );
    }

    #[test]
    fn a_registered_passkey_signs_in_and_moves_its_counter() {
        let world = World::new();
        let mut key = authenticator(1);
        let passkey = world.register(&mut key, 1000);
        assert_eq!(passkey.id, key.credential_id());
        assert_eq!((passkey.algorithm, passkey.sign_count), (-8, 1));
        let signed_in = world.sign_in(&mut key, 1010).expect("sign-in");
        assert_eq!(signed_in.user, world.ada);
        assert!(signed_in.flags.user_verified && !signed_in.flags.backup_eligible);
        let stored = world
            .passkeys
            .by_id(&passkey.id)
            .expect("read")
            .expect("there");
        assert_eq!((stored.sign_count, stored.last_used_at), (2, Some(1010)));
        let options = world
            .at(1020)
            .registration_options(&world.ada, &mut SeededRandom::new(5))
            .expect("options");
        assert_eq!(options.exclude, vec![passkey.id]);
        assert!(options.challenge.len() >= 22, "at least 128 bits");
    }

    #[test]
    fn a_response_is_accepted_once() {
        let world = World::new();
        let mut key = authenticator(2);
        world.register(&mut key, 1000);
        let challenge = world
            .at(1001)
            .sign_in_options(&mut SeededRandom::new(9))
            .expect("options");
        let response = key.get(&challenge);
        assert!(world.at(1002).sign_in(&world.users, &response).is_ok());
        assert!(matches!(
            world.at(1003).sign_in(&world.users, &response),
            Err(PasskeyFlowError::Challenge(_))
        ));
    }

    #[test]
    fn a_challenge_finishes_only_its_own_ceremony_within_its_lifetime() {
        let world = World::new();
        let mut key = authenticator(3);
        world.register(&mut key, 1000);
        // A registration challenge answered as a sign-in.
        let options = world
            .at(1001)
            .registration_options(&world.ada, &mut SeededRandom::new(11))
            .expect("options");
        let response = key.get(&options.challenge);
        assert!(matches!(
            world.at(1002).sign_in(&world.users, &response),
            Err(PasskeyFlowError::Challenge(_))
        ));
        // A sign-in challenge answered as a registration.
        let challenge = world
            .at(1003)
            .sign_in_options(&mut SeededRandom::new(12))
            .expect("options");
        let mut fresh = authenticator(4);
        let response = fresh.create(&challenge, &options.user_handle);
        assert!(matches!(
            world.at(1004).register(&world.ada, "x".into(), &response),
            Err(PasskeyFlowError::Challenge(_))
        ));
        // Expired.
        let challenge = world
            .at(2000)
            .sign_in_options(&mut SeededRandom::new(13))
            .expect("options");
        let response = key.get(&challenge);
        let late = 2000 + PASSKEY_CHALLENGE_LIFETIME_SECS;
        assert!(matches!(
            world.at(late).sign_in(&world.users, &response),
            Err(PasskeyFlowError::Challenge(_))
        ));
    }

    #[test]
    fn a_registration_challenge_is_bound_to_its_account_as_it_was() {
        let world = World::new();
        let options = world
            .at(1000)
            .registration_options(&world.ada, &mut SeededRandom::new(21))
            .expect("options");
        let mut key = authenticator(5);
        let response = key.create(&options.challenge, &options.user_handle);
        let bob = sample_user(2, "bob@example.com", vec![Role::User]);
        assert!(matches!(
            world.at(1001).register(&bob, "x".into(), &response),
            Err(PasskeyFlowError::Challenge(_))
        ));
        let options = world
            .at(1002)
            .registration_options(&world.ada, &mut SeededRandom::new(22))
            .expect("options");
        let response = key.create(&options.challenge, &options.user_handle);
        let changed = User {
            version: world.ada.version + 1,
            ..world.ada.clone()
        };
        assert!(matches!(
            world.at(1003).register(&changed, "x".into(), &response),
            Err(PasskeyFlowError::Challenge(_))
        ));
        assert_eq!(world.passkeys.of_user(&world.ada.id).expect("list"), vec![]);
    }

    #[test]
    fn a_credential_registers_once_and_an_unknown_one_never_signs_in() {
        let world = World::new();
        let mut key = authenticator(6);
        world.register(&mut key, 1000);
        let options = world
            .at(1001)
            .registration_options(&world.ada, &mut SeededRandom::new(31))
            .expect("options");
        let again = key.create(&options.challenge, &options.user_handle);
        assert!(matches!(
            world.at(1002).register(&world.ada, "again".into(), &again),
            Err(PasskeyFlowError::AlreadyRegistered)
        ));
        let mut stranger = authenticator(7);
        stranger.create("unused", &options.user_handle);
        assert!(matches!(
            world.sign_in(&mut stranger, 1003),
            Err(PasskeyFlowError::UnknownCredential)
        ));
    }

    #[test]
    fn a_counter_that_goes_back_is_refused_and_named() {
        let world = World::new();
        let mut key = authenticator(8);
        let passkey = world.register(&mut key, 1000);
        world.sign_in(&mut key, 1001).expect("sign-in");
        world.sign_in(&mut key, 1002).expect("sign-in");
        key.counter = 1; // a clone, still at an older count
        match world.sign_in(&mut key, 1003) {
            Err(PasskeyFlowError::CounterRegressed {
                user,
                passkey: id,
                stored,
                presented,
            }) => {
                assert_eq!((user, id), (world.ada.id.clone(), passkey.id));
                assert_eq!((stored, presented), (3, 2));
            }
            other => panic!("expected a regression, got {other:?}"),
        }
    }

    #[test]
    fn the_checks_of_the_standard_apply_to_both_ceremonies() {
        let world = World::new();
        let mut unverified = authenticator(9);
        unverified.user_verified = false;
        let options = world
            .at(1000)
            .registration_options(&world.ada, &mut SeededRandom::new(41))
            .expect("options");
        let response = unverified.create(&options.challenge, &options.user_handle);
        assert!(matches!(
            world.at(1001).register(&world.ada, "x".into(), &response),
            Err(PasskeyFlowError::Rejected(PasskeyError::UserNotVerified))
        ));
        let mut key = authenticator(10);
        world.register(&mut key, 1002);
        key.origin = "https://evil.example.net".into();
        assert!(matches!(
            world.sign_in(&mut key, 1003),
            Err(PasskeyFlowError::Rejected(PasskeyError::WrongOrigin(_)))
        ));
        key.origin = ORIGIN.into();
        key.rp_id = "evil.example.net".into();
        assert!(matches!(
            world.sign_in(&mut key, 1004),
            Err(PasskeyFlowError::Rejected(PasskeyError::WrongRelyingParty))
        ));
    }

    #[test]
    fn a_disabled_account_does_not_sign_in() {
        let world = World::new();
        let mut key = authenticator(11);
        world.register(&mut key, 1000);
        let disabled = User {
            disabled: true,
            ..world.ada.clone()
        };
        world.users.put(disabled);
        assert!(matches!(
            world.sign_in(&mut key, 1001),
            Err(PasskeyFlowError::UnknownCredential)
        ));
    }

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(passkey_name(None).as_deref(), Ok("Passkey"));
        assert_eq!(passkey_name(Some("  ")).as_deref(), Ok("Passkey"));
        assert_eq!(passkey_name(Some(" Phone ")).as_deref(), Ok("Phone"));
        assert_eq!(
            passkey_name(Some(&"x".repeat(65))).map_err(|e| e.code),
            Err("too_long")
        );
        assert_eq!(
            passkey_name(Some("a\u{7}b")).map_err(|e| e.code),
            Err("invalid")
        );
    }
}
