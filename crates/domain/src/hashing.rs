//! Password hashing: argon2id in PHC format, with the parameters configurable,
//! old hashes upgraded on login, and a dummy verification that costs the same
//! as a real one so unknown accounts cannot be told apart by timing.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::password::Password;
use crate::random::Random;

/// The argon2id parameters new hashes use unless configured otherwise: the
/// first of OWASP's equally rated configurations (46 MiB, 1 pass, 1 lane).
/// Of those it is the most memory-hard, the shape RFC 9106 recommends
/// (t = 1, as much memory as affordable), and the one whose cost in a
/// component is closest to native: memory traffic, where wasm loses
/// little, dominates arithmetic, where it lacks the native code's AVX2.
/// The price is 46 MiB per login in flight; `make bench` prints every
/// OWASP configuration for choosing another through the variables.
pub const DEFAULT_HASH_PARAMS: HashParams = HashParams {
    memory_kib: 47_104,
    iterations: 1,
    parallelism: 1,
};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB (`m`).
    pub memory_kib: u32,
    /// Passes (`t`).
    pub iterations: u32,
    /// Lanes (`p`).
    pub parallelism: u32,
}

/// Why hashing failed; none of these reveal the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    /// The configured parameters are outside argon2's limits.
    #[error("invalid argon2 parameters: {0}")]
    InvalidParams(String),
    /// A stored hash is not a PHC string this hasher understands.
    #[error("stored password hash is malformed")]
    MalformedHash,
    /// argon2 itself failed.
    #[error("argon2 failed: {0}")]
    Argon2(String),
}

/// A password credential: the argon2id PHC string the store keeps instead
/// of the password. It is a type apart from `User`, so the profile (cached,
/// listed, returned) never carries it; only password checks read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    /// A stored PHC string, as read from the database.
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storing.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

/// Salt and digest stay out of logs.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(..)")
    }
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// The password matches.
    pub matches: bool,
    /// The hash uses other parameters than the configured ones and should be
    /// replaced (only meaningful when `matches`).
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords with one set of parameters.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: HashParams,
    argon2: Argon2<'static>,
    /// A PHC string with the configured parameters that no password matches.
    dummy: Credential,
}

impl PasswordHasher {
    /// A hasher using `params` for new hashes.
    pub fn new(params: HashParams) -> Result<Self, HashError> {
        let argon_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| HashError::InvalidParams(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
        // Fixed salt and digest: verifying against this costs exactly one
        // argon2 computation with the configured parameters, then fails.
        let dummy = Credential(format!(
            "$argon2id$v=19$m={},t={},p={}$c3Bpbi11c2Vycy1kdW1teQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            params.memory_kib, params.iterations, params.parallelism
        ));
        Ok(Self {
            params,
            argon2,
            dummy,
        })
    }

    /// The parameters new hashes use.
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// Hashes `password` with a fresh 16-byte salt, as a PHC string.
    pub fn hash(
        &self,
        password: &Password,
        random: &mut dyn Random,
    ) -> Result<Credential, HashError> {
        let mut salt = [0u8; 16];
        random.fill(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Argon2(e.to_string()))?;
        self.argon2
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| Credential(h.to_string()))
            .map_err(|e| HashError::Argon2(e.to_string()))
    }

    /// Checks `password` against `stored` (with the stored hash's own
    /// parameters), and says whether it should be rehashed.
    pub fn verify(
        &self,
        password: &Password,
        stored: &Credential,
    ) -> Result<Verification, HashError> {
        let parsed = PasswordHash::new(stored.as_phc()).map_err(|_| HashError::MalformedHash)?;
        let matches = Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok();
        Ok(Verification {
            matches,
            needs_rehash: matches && self.is_outdated(&parsed),
        })
    }

    /// Does the work of one verification and always fails: used when the
    /// account does not exist, so the response takes as long as a wrong
    /// password on a real account.
    pub fn verify_dummy(&self, password: &Password) {
        let verification = self.verify(password, &self.dummy);
        std::hint::black_box(verification.ok());
    }

    fn is_outdated(&self, hash: &PasswordHash<'_>) -> bool {
        let Ok(params) = Params::try_from(hash) else {
            return true;
        };
        hash.algorithm.as_str() != "argon2id"
            || hash.version != Some(Version::V0x13 as u32)
            || params.m_cost() != self.params.memory_kib
            || params.t_cost() != self.params.iterations
            || params.p_cost() != self.params.parallelism
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::random::testing::SeededRandom;

    /// Small parameters keep the unit tests fast; the logic is the same.
    pub(crate) const FAST: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn pw(s: &str) -> Password {
        Password::new(s.to_owned())
    }

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let hasher = PasswordHasher::new(FAST).expect("params");
        let stored = hasher
            .hash(&pw("correct horse"), &mut SeededRandom::new(1))
            .expect("hash");
        assert!(
            stored.as_phc().starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{}",
            stored.as_phc()
        );
        let ok = hasher
            .verify(&pw("correct horse"), &stored)
            .expect("verify");
        assert_eq!(
            ok,
            Verification {
                matches: true,
                needs_rehash: false
            }
        );
        assert!(
            !hasher
                .verify(&pw("wrong horse"), &stored)
                .expect("verify")
                .matches
        );
    }

    #[test]
    fn salts_differ_between_hashes_of_the_same_password() {
        let hasher = PasswordHasher::new(FAST).expect("params");
        let mut random = SeededRandom::new(7);
        let a = hasher
            .hash(&pw("same password"), &mut random)
            .expect("hash");
        let b = hasher
            .hash(&pw("same password"), &mut random)
            .expect("hash");
        assert_ne!(a, b);
    }

    #[test]
    fn hashes_with_old_parameters_verify_and_ask_for_a_rehash() {
        let old = PasswordHasher::new(FAST).expect("params");
        let stored = old
            .hash(&pw("correct horse"), &mut SeededRandom::new(2))
            .expect("hash");
        let current = PasswordHasher::new(HashParams {
            memory_kib: 128,
            ..FAST
        })
        .expect("params");
        let v = current
            .verify(&pw("correct horse"), &stored)
            .expect("verify");
        assert_eq!(
            v,
            Verification {
                matches: true,
                needs_rehash: true
            }
        );
        let wrong = current.verify(&pw("nope nope"), &stored).expect("verify");
        assert!(!wrong.needs_rehash, "no rehash without a match");
    }

    #[test]
    fn the_dummy_hash_is_well_formed_and_matches_nothing() {
        let hasher = PasswordHasher::new(FAST).expect("params");
        let v = hasher
            .verify(&pw("anything"), &hasher.dummy)
            .expect("dummy parses");
        assert!(!v.matches);
        assert!(!v.needs_rehash);
        hasher.verify_dummy(&pw("anything"));
    }

    #[test]
    fn malformed_stored_hashes_are_errors_not_panics() {
        let hasher = PasswordHasher::new(FAST).expect("params");
        for bad in ["", "plaintext", "$2b$12$bcrypt-looking"] {
            assert_eq!(
                hasher.verify(&pw("x"), &Credential::from_phc(bad.into())),
                Err(HashError::MalformedHash),
                "{bad}"
            );
        }
        // Syntactically PHC but without a digest: never a match.
        let digestless = Credential::from_phc("$argon2id$v=19$m=x".into());
        let digestless = hasher.verify(&pw("x"), &digestless);
        assert!(!digestless.is_ok_and(|v| v.matches));
    }

    #[test]
    fn a_credential_never_shows_its_hash_in_debug_output() {
        let hasher = PasswordHasher::new(FAST).expect("params");
        let stored = hasher
            .hash(&pw("correct horse"), &mut SeededRandom::new(3))
            .expect("hash");
        assert_eq!(format!("{stored:?}"), "Credential(..)");
    }

    #[test]
    fn out_of_range_parameters_are_refused() {
        let zero = HashParams {
            iterations: 0,
            ..DEFAULT_HASH_PARAMS
        };
        assert!(matches!(
            PasswordHasher::new(zero),
            Err(HashError::InvalidParams(_))
        ));
    }
}
