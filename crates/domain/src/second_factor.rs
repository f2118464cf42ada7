//! A second factor: time-based one-time passwords (RFC 6238, HOTP of
//! RFC 4226 over 30-second steps) with single-use recovery codes, to
//! NIST SP 800-63B §5.1.4.
//!
//! - The shared secret is 160 random bits (RFC 4226 §4 R6), stored sealed
//!   with XChaCha20-Poly1305 under a server key and the account's id as
//!   associated data: a copy of the database gives no second factor away,
//!   and a sealed secret moved to another row does not open.
//! - A code is accepted once: the step it belongs to is stored, and any
//!   step at or before the stored one is refused (§5.1.4.2), by a write
//!   conditional on the stored step, so of two racing uses one wins.
//! - Wrong second factors have their own counter: an attempt is counted
//!   before it is checked, in one statement that refuses it while the
//!   factor is locked, so parallel guesses cannot exceed the limit; a
//!   success resets the count.
//! - Recovery codes are stored as keyed hashes, compared in constant time,
//!   and each is spent by a write conditional on the list read.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use zeroize::Zeroizing;

use crate::digest::{hex, secrets_match};
use crate::one_time::{self, OneTimeToken, OneTimeTokens, Purpose};
use crate::random::Random;
use crate::sessions::hash_token;
use crate::user::{RepoError, User, UserId, UserRepository};

/// Seconds per TOTP step (RFC 6238 §4.1, `X`).
pub const TOTP_STEP_SECS: i64 = 30;
/// Digits of a code.
pub const TOTP_DIGITS: u32 = 6;
/// Steps of clock drift accepted either way (RFC 6238 §5.2).
pub const TOTP_DRIFT_STEPS: i64 = 1;
/// Consecutive wrong second factors that lock the factor.
pub const MAX_FACTOR_FAILURES: i64 = 5;
/// How long a locked factor stays locked.
pub const FACTOR_LOCK_SECS: i64 = 15 * 60;
/// Recovery codes handed out at enrolment.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters of a recovery code (5 bits each: 50 bits).
const RECOVERY_CODE_CHARS: usize = 10;
/// Bytes of a TOTP secret: 160 bits, the HMAC-SHA-1 block output size.
const SECRET_BYTES: usize = 20;
/// RFC 4648 base32 alphabet.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// What a sealed secret starts with: the format, for a later one.
const SEALED_PREFIX: &str = "v1.";

/// A TOTP shared secret.
pub struct TotpSecret(Zeroizing<[u8; SECRET_BYTES]>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// A fresh secret from `random` (the CSPRNG in production).
    pub fn generate(random: &mut dyn Random) -> Self {
        let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
        random.fill(bytes.as_mut());
        Self(bytes)
    }

    /// The secret in RFC 4648 base32, as authenticator apps take it (20
    /// bytes are 32 characters, no padding).
    pub fn base32(&self) -> String {
        base32(self.0.as_ref())
    }

    /// The code of `step`.
    fn code(&self, step: i64) -> String {
        let counter = u64::try_from(step).unwrap_or_default();
        format!(
            "{:0width$}",
            hotp(self.0.as_ref(), counter, TOTP_DIGITS),
            width = TOTP_DIGITS as usize
        )
    }

    /// The step within [`TOTP_DRIFT_STEPS`] of `now` whose code is `code`
    /// and which is later than `after` (the last step accepted); every
    /// candidate is compared, in constant time.
    pub fn matching_step(&self, code: &str, now: i64, after: i64) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != TOTP_DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now.div_euclid(TOTP_STEP_SECS);
        let mut found = None;
        for step in current - TOTP_DRIFT_STEPS..=current + TOTP_DRIFT_STEPS {
            if secrets_match(&code, &self.code(step)) && step > after && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    /// The `otpauth://` URI of Google Authenticator's key-URI format that
    /// apps scan: `issuer` names the service, `account` the user.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        // `@` stays as it is in the label (a path may hold it), as in the
        // format's own example `Example:alice@google.com`.
        let label = format!("{}:{}", percent(issuer), percent_keeping(account, b"@"));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECS}",
            self.base32(),
            percent(issuer),
        )
    }
}

/// HOTP (RFC 4226 §5.3): HMAC-SHA-1 of the counter, dynamically truncated
/// to `digits` decimal digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn percent(s: &str) -> String {
    percent_keeping(s, b"")
}

/// Percent-encodes all but the unreserved characters and `keep`.
fn percent_keeping(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Why the factor key variable was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the second-factor key is not base64 of 32 bytes")]
pub struct FactorKeyError;

/// The server key second factors are kept with: one subkey seals TOTP
/// secrets, another keys the hashes of recovery codes.
pub struct FactorKey {
    seal: Zeroizing<[u8; 32]>,
    recovery: Zeroizing<[u8; 32]>,
}

impl FactorKey {
    /// The key from its variable: base64 (standard or URL-safe) of 32
    /// random bytes.
    pub fn parse(encoded: &str) -> Result<Self, FactorKeyError> {
        let encoded = encoded.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')))
            .map_err(|_| FactorKeyError)?;
        let bytes = Zeroizing::new(<[u8; 32]>::try_from(bytes).map_err(|_| FactorKeyError)?);
        Ok(Self {
            seal: Zeroizing::new(blake3::derive_key(
                "spin-users 2026-12 totp secret seal",
                bytes.as_ref(),
            )),
            recovery: Zeroizing::new(blake3::derive_key(
                "spin-users 2026-12 recovery code hash",
                bytes.as_ref(),
            )),
        })
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.seal.as_ref().into())
    }

    /// `secret` sealed for `user`: `v1.` and base64url of a random 192-bit
    /// nonce followed by the ciphertext and its tag.
    pub fn seal(&self, user: &UserId, secret: &TotpSecret, random: &mut dyn Random) -> String {
        let mut nonce = [0u8; 24];
        random.fill(&mut nonce);
        let payload = Payload {
            msg: secret.0.as_ref(),
            aad: user.as_ref().as_bytes(),
        };
        let sealed = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), payload)
            .expect("XChaCha20-Poly1305 seals messages of any size this small");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The secret `sealed` holds for `user`; `Sealed` when it was sealed
    /// under another key, for another account, or altered.
    pub fn open(&self, user: &UserId, sealed: &str) -> Result<TotpSecret, SecondFactorError> {
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|rest| URL_SAFE_NO_PAD.decode(rest).ok())
            .filter(|bytes| bytes.len() > 24)
            .ok_or(SecondFactorError::Sealed)?;
        let (nonce, ciphertext) = bytes.split_at(24);
        let payload = Payload {
            msg: ciphertext,
            aad: user.as_ref().as_bytes(),
        };
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(XNonce::from_slice(nonce), payload)
                .map_err(|_| SecondFactorError::Sealed)?,
        );
        let secret = <[u8; SECRET_BYTES]>::try_from(plain.as_slice())
            .map_err(|_| SecondFactorError::Sealed)?;
        Ok(TotpSecret(Zeroizing::new(secret)))
    }

    /// The stored form of recovery code `code` (normalised) of `user`.
    fn recovery_hash(&self, user: &UserId, code: &str) -> String {
        let mut hasher = blake3::Hasher::new_keyed(&self.recovery);
        hasher.update(user.as_ref().as_bytes());
        hasher.update(b":");
        hasher.update(code.as_bytes());
        hex(hasher.finalize().as_bytes())
    }
}

/// A recovery code as typed, normalised (lower case, no dashes or
/// spaces); `None` for one no code looks like.
fn normalise_recovery_code(code: &str) -> Option<String> {
    let code: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == RECOVERY_CODE_CHARS
        && code
            .bytes()
            .all(|b| BASE32.contains(&b.to_ascii_uppercase())))
    .then_some(code)
}

/// Fresh recovery codes for `user`, as shown (`xxxxx-xxxxx`), and the list
/// stored: their keyed hashes, space-separated.
fn new_recovery_codes(
    key: &FactorKey,
    user: &UserId,
    random: &mut dyn Random,
) -> (Vec<String>, String) {
    let mut shown = Vec::with_capacity(RECOVERY_CODE_COUNT);
    let mut stored = Vec::with_capacity(RECOVERY_CODE_COUNT);
    for _ in 0..RECOVERY_CODE_COUNT {
        let mut bytes = [0u8; RECOVERY_CODE_CHARS];
        random.fill(&mut bytes);
        // 256 is a multiple of 32: every character is equally likely.
        let code: String = bytes
            .iter()
            .map(|b| char::from(BASE32[usize::from(b & 31)].to_ascii_lowercase()))
            .collect();
        stored.push(key.recovery_hash(user, &code));
        shown.push(format!("{}-{}", &code[..5], &code[5..]));
    }
    (shown, stored.join(" "))
}

/// What the store holds of an account's second factor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FactorRecord {
    /// A sealed secret awaiting confirmation.
    pub pending: Option<String>,
    /// The sealed secret in use; `None` while no factor is on.
    pub secret: Option<String>,
    /// The last step a code was accepted for.
    pub last_step: i64,
    /// The keyed hashes of the unspent recovery codes, space-separated.
    pub recovery_codes: String,
}

/// Whether a second-factor attempt may be checked ([`SecondFactors::reserve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Counted: check it; the count stands unless it succeeds.
    Counted,
    /// Counted as failure number [`MAX_FACTOR_FAILURES`] in a row: the
    /// lock is on unless this attempt succeeds.
    Last,
    /// The factor is locked until then (seconds since the epoch).
    Locked {
        /// When the lock ends.
        until: i64,
    },
}

/// Storage of second factors (`spin-users-store`). Every write is one
/// statement conditional on what the caller read.
pub trait SecondFactors {
    /// The factor of `user`; `None` when there is no such account.
    fn record(&self, user: &UserId) -> Result<Option<FactorRecord>, RepoError>;

    /// Stores `sealed` as the pending secret of `user` if no factor is on;
    /// whether it did.
    fn begin(&self, user: &UserId, sealed: &str) -> Result<bool, RepoError>;

    /// Turns the factor on with the pending secret `pending` (as read),
    /// `step` accepted and `recovery_codes` stored, at `now`; `false` when
    /// the pending secret is no longer `pending` or a factor is on.
    fn enable(
        &self,
        user: &UserId,
        pending: &str,
        step: i64,
        recovery_codes: &str,
        now: i64,
    ) -> Result<bool, RepoError>;

    /// Counts an attempt at `now` unless the factor is locked, locking it
    /// for [`FACTOR_LOCK_SECS`] when this is failure number
    /// [`MAX_FACTOR_FAILURES`] in a row: one statement.
    fn reserve(&self, user: &UserId, now: i64) -> Result<Reservation, RepoError>;

    /// Records `step` as accepted for `secret` (as read) and resets the
    /// failure count, if `step` is later than the stored step; whether it
    /// did.
    fn accept_step(&self, user: &UserId, secret: &str, step: i64) -> Result<bool, RepoError>;

    /// Replaces the recovery codes `read` by `left` and resets the failure
    /// count, if they are still `read`; whether it did.
    fn spend_recovery_code(&self, user: &UserId, read: &str, left: &str)
    -> Result<bool, RepoError>;

    /// Turns the factor off (secret, codes, counters) at `now`; whether
    /// one was on or pending.
    fn disable(&self, user: &UserId, now: i64) -> Result<bool, RepoError>;
}

/// A second factor as presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// A code from the authenticator app.
    Otp(String),
    /// One of the recovery codes.
    RecoveryCode(String),
}

/// Which kind of proof succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofKind {
    /// A TOTP code.
    Otp,
    /// A recovery code.
    RecoveryCode,
}

impl ProofKind {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Otp => "otp",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

impl Proof {
    /// The proof a body gives as `code` or `recovery_code` (a code when it
    /// has both).
    pub fn from_fields(code: Option<String>, recovery_code: Option<String>) -> Option<Self> {
        code.map(Self::Otp)
            .or_else(|| recovery_code.map(Self::RecoveryCode))
    }

    /// The body field it came in.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Otp(_) => "code",
            Self::RecoveryCode(_) => "recovery_code",
        }
    }

    /// Its kind.
    pub fn kind(&self) -> ProofKind {
        match self {
            Self::Otp(_) => ProofKind::Otp,
            Self::RecoveryCode(_) => ProofKind::RecoveryCode,
        }
    }
}

/// Why a second-factor step failed.
#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    /// Enrolment while a factor is on.
    #[error("a second factor is on already")]
    AlreadyEnabled,
    /// Confirmation with no enrolment pending.
    #[error("no enrolment is pending")]
    NotEnrolling,
    /// The account has no second factor on.
    #[error("no second factor is on")]
    NotEnabled,
    /// The action needs a second factor and none was given.
    #[error("a second factor is required")]
    Required,
    /// Wrong, malformed, replayed or spent.
    #[error("the second factor is not valid")]
    Invalid,
    /// Wrong, and the last failure allowed: the factor is locked from now.
    #[error("the second factor is wrong and locked until {until}")]
    LockedNow {
        /// When the lock ends (seconds since the epoch).
        until: i64,
    },
    /// Too many wrong second factors in a row.
    #[error("the second factor is locked until {until}")]
    Locked {
        /// When the lock ends (seconds since the epoch).
        until: i64,
    },
    /// A stored secret does not open under the key: the key changed, or
    /// the row was altered.
    #[error("a stored second-factor secret does not open under the configured key")]
    Sealed,
    /// The server has no usable key to seal or open second factors with.
    #[error("second factors cannot be used: {0}")]
    Unkeyed(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] RepoError),
}

/// What enrolment shows the user once.
#[derive(Debug)]
pub struct Enrolment {
    /// The secret in base32.
    pub secret: String,
    /// Its `otpauth://` URI.
    pub uri: String,
}

/// The second-factor rules with what they work with.
pub struct SecondFactor<'a> {
    /// Where factors are stored.
    pub factors: &'a dyn SecondFactors,
    /// The server key.
    pub key: &'a FactorKey,
    /// Now, in seconds.
    pub now: i64,
}

impl SecondFactor<'_> {
    /// Starts an enrolment of `user` (whose password the caller checked):
    /// a fresh secret, pending until [`Self::confirm`]; nothing else
    /// changes. Enrolling again before confirming replaces the secret.
    pub fn enrol(
        &self,
        user: &User,
        issuer: &str,
        random: &mut dyn Random,
    ) -> Result<Enrolment, SecondFactorError> {
        if user.mfa_enabled {
            return Err(SecondFactorError::AlreadyEnabled);
        }
        let secret = TotpSecret::generate(random);
        let sealed = self.key.seal(&user.id, &secret, random);
        if !self.factors.begin(&user.id, &sealed)? {
            return Err(SecondFactorError::AlreadyEnabled);
        }
        Ok(Enrolment {
            secret: secret.base32(),
            uri: secret.otpauth_uri(issuer, user.email.as_ref()),
        })
    }

    /// Turns the pending factor of `user` on once `code` proves the app
    /// holds it (that code's step counts as used); the recovery codes, to
    /// be shown once.
    pub fn confirm(
        &self,
        user: &User,
        code: &str,
        random: &mut dyn Random,
    ) -> Result<Vec<String>, SecondFactorError> {
        let record = self.record(&user.id)?;
        if record.secret.is_some() {
            return Err(SecondFactorError::AlreadyEnabled);
        }
        let pending = record.pending.ok_or(SecondFactorError::NotEnrolling)?;
        let last = self.reserve(&user.id)?;
        let secret = self.key.open(&user.id, &pending)?;
        let step = secret
            .matching_step(code, self.now, record.last_step)
            .ok_or_else(|| self.failed(last))?;
        let (shown, stored) = new_recovery_codes(self.key, &user.id, random);
        if !self
            .factors
            .enable(&user.id, &pending, step, &stored, self.now)?
        {
            return Err(SecondFactorError::NotEnrolling);
        }
        Ok(shown)
    }

    /// Checks `proof` against the factor of `user`, counted against the
    /// lock first; a code or recovery code that passes is spent.
    pub fn verify(&self, user: &UserId, proof: &Proof) -> Result<ProofKind, SecondFactorError> {
        let last = self.reserve(user)?;
        self.check(user, proof).map_err(|e| match e {
            SecondFactorError::Invalid => self.failed(last),
            other => other,
        })
    }

    /// [`Self::verify`] once the attempt is counted.
    fn check(&self, user: &UserId, proof: &Proof) -> Result<ProofKind, SecondFactorError> {
        let record = self.record(user)?;
        let sealed = record
            .secret
            .as_deref()
            .ok_or(SecondFactorError::NotEnabled)?;
        match proof {
            Proof::Otp(code) => {
                let secret = self.key.open(user, sealed)?;
                let step = secret
                    .matching_step(code, self.now, record.last_step)
                    .ok_or(SecondFactorError::Invalid)?;
                if !self.factors.accept_step(user, sealed, step)? {
                    // A racing use of the same code (or a later one) won.
                    return Err(SecondFactorError::Invalid);
                }
            }
            Proof::RecoveryCode(code) => self.spend_recovery_code(user, code, record)?,
        }
        Ok(proof.kind())
    }

    /// Spends recovery code `code`: compared with every stored hash in
    /// constant time, then removed by a write conditional on the list
    /// read; a write that lost to another code's is redone on a fresh read.
    fn spend_recovery_code(
        &self,
        user: &UserId,
        code: &str,
        mut record: FactorRecord,
    ) -> Result<(), SecondFactorError> {
        let code = normalise_recovery_code(code).ok_or(SecondFactorError::Invalid)?;
        let presented = self.key.recovery_hash(user, &code);
        for _ in 0..4 {
            let mut matched = false;
            let left: Vec<&str> = record
                .recovery_codes
                .split_whitespace()
                .filter(|stored| {
                    let same = secrets_match(&presented, stored);
                    matched |= same;
                    !same
                })
                .collect();
            if !matched {
                return Err(SecondFactorError::Invalid);
            }
            let left = left.join(" ");
            if self
                .factors
                .spend_recovery_code(user, &record.recovery_codes, &left)?
            {
                return Ok(());
            }
            record = self.record(user)?;
        }
        Err(SecondFactorError::Invalid)
    }

    /// The step-up rule: with a factor on, an action that changes how the
    /// account is proven (password, e-mail, deletion, the factor itself)
    /// needs `proof` too; without one it needs nothing.
    pub fn step_up(&self, user: &User, proof: Option<&Proof>) -> Result<(), SecondFactorError> {
        if !user.mfa_enabled {
            return Ok(());
        }
        let proof = proof.ok_or(SecondFactorError::Required)?;
        self.verify(&user.id, proof).map(|_| ())
    }

    /// Turns the factor of `user` off; `NotEnabled` when none was on or
    /// pending.
    pub fn disable(&self, user: &UserId) -> Result<(), SecondFactorError> {
        if self.factors.disable(user, self.now)? {
            Ok(())
        } else {
            Err(SecondFactorError::NotEnabled)
        }
    }

    fn record(&self, user: &UserId) -> Result<FactorRecord, SecondFactorError> {
        self.factors
            .record(user)?
            .ok_or(SecondFactorError::NotEnabled)
    }

    /// Counts an attempt; whether it is the last one before the lock.
    fn reserve(&self, user: &UserId) -> Result<bool, SecondFactorError> {
        match self.factors.reserve(user, self.now)? {
            Reservation::Counted => Ok(false),
            Reservation::Last => Ok(true),
            Reservation::Locked { until } => Err(SecondFactorError::Locked { until }),
        }
    }

    /// The error of a wrong factor: [`SecondFactorError::LockedNow`] when
    /// it was the `last` attempt allowed.
    fn failed(&self, last: bool) -> SecondFactorError {
        if last {
            SecondFactorError::LockedNow {
                until: self.now + FACTOR_LOCK_SECS,
            }
        } else {
            SecondFactorError::Invalid
        }
    }
}

/// How a session's login was proven: the `amr` values (RFC 8176) its access
/// tokens carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginMethod {
    /// A password alone.
    #[default]
    Password,
    /// A password and a TOTP code or a recovery code.
    PasswordAndOtp,
    /// A passkey bound to its device (BE clear): a hardware-secured key,
    /// with the user verified.
    DeviceBoundPasskey,
    /// A passkey that may be synced (BE set): its key may live in
    /// software and the cloud, with the user verified.
    SyncedPasskey,
}

impl LoginMethod {
    /// The `amr` claim's values.
    pub fn amr(self) -> &'static [&'static str] {
        match self {
            Self::Password => &["pwd"],
            Self::PasswordAndOtp => &["pwd", "otp", "mfa"],
            Self::DeviceBoundPasskey => &["hwk", "user"],
            Self::SyncedPasskey => &["swk", "user"],
        }
    }

    /// The stored form: the values, space-separated.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "pwd",
            Self::PasswordAndOtp => "pwd otp mfa",
            Self::DeviceBoundPasskey => "hwk user",
            Self::SyncedPasskey => "swk user",
        }
    }

    /// The method stored as `stored`; an unknown value claims the least.
    pub fn parse(stored: &str) -> Self {
        match stored {
            "pwd otp mfa" => Self::PasswordAndOtp,
            "hwk user" => Self::DeviceBoundPasskey,
            "swk user" => Self::SyncedPasskey,
            _ => Self::Password,
        }
    }
}

/// How long an `mfa_token` lives.
pub const MFA_TOKEN_LIFETIME_SECS: i64 = 5 * 60;

/// Issues the `mfa_token` of a password login of `user` at `now`: 256
/// random bits, stored as a hash, bound to the account as its password
/// was checked, alive [`MFA_TOKEN_LIFETIME_SECS`].
pub fn issue_mfa_token(
    tokens: &dyn OneTimeTokens,
    user: &User,
    now: i64,
    random: &mut dyn Random,
) -> Result<String, RepoError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    random.fill(bytes.as_mut());
    let token = URL_SAFE_NO_PAD.encode(bytes.as_ref());
    let stored = OneTimeToken {
        token_hash: hash_token(&token),
        purpose: Purpose::MfaLogin,
        user_id: user.id.clone(),
        address: mfa_binding(user),
        expires_at: now + MFA_TOKEN_LIFETIME_SECS,
    };
    tokens.store(&stored, now)?;
    Ok(token)
}

/// Why the second half of a login failed.
#[derive(Debug, thiserror::Error)]
pub enum MfaLoginError {
    /// The `mfa_token` is unknown, tampered, expired, spent, or its
    /// account changed or was disabled since the password was checked.
    #[error("the mfa_token is not valid ({0})")]
    Token(&'static str),
    /// The second factor of the token's account failed.
    #[error("{error}")]
    Factor {
        /// The account.
        user: UserId,
        /// How it failed.
        error: SecondFactorError,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] RepoError),
}

/// Finishes a login: `mfa_token` from the password half, then `proof`
/// checked against the account's factor; the token is spent only once the
/// factor passed (a mistyped code may be retried within its lifetime,
/// counted against the factor's lock), by one conditional statement, so
/// one token gives at most one session.
pub fn finish_mfa_login(
    tokens: &dyn OneTimeTokens,
    users: &dyn UserRepository,
    factor: &SecondFactor<'_>,
    mfa_token: &str,
    proof: &Proof,
) -> Result<(User, ProofKind), MfaLoginError> {
    let hash = one_time::token_hash(mfa_token).ok_or(MfaLoginError::Token("malformed"))?;
    let now = factor.now;
    let found = tokens
        .find(&hash, Purpose::MfaLogin, now)?
        .ok_or(MfaLoginError::Token("unknown, expired or spent"))?;
    let user = users
        .by_id(&found.user_id)?
        .filter(|user| !user.disabled)
        .ok_or(MfaLoginError::Token("account disabled or deleted"))?;
    if mfa_binding(&user) != found.address {
        return Err(MfaLoginError::Token("the account changed"));
    }
    let kind = factor
        .verify(&user.id, proof)
        .map_err(|error| MfaLoginError::Factor {
            user: user.id.clone(),
            error,
        })?;
    tokens
        .spend(&hash, Purpose::MfaLogin, now)?
        .ok_or(MfaLoginError::Token("spent by a racing request"))?;
    Ok((user, kind))
}

/// What an `mfa_token` is bound to: the account as its password was
/// checked (any change to the account since, a new password included,
/// moves its version on and kills the token).
pub fn mfa_binding(user: &User) -> String {
    format!("{}#{}", user.email.as_ref(), user.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{InMemoryFactors, InMemoryOneTimeTokens, InMemoryUsers, sample_user};
    use crate::random::testing::SeededRandom;
    use crate::user::Role;

    /// RFC 6238 appendix B's SHA-1 seed.
    const RFC_SEED: &[u8; 20] = b"12345678901234567890";

    #[test]
    fn the_fake_keeps_the_storage_contract() {
        let factors = InMemoryFactors::default();
        let user = UserId::generate(&mut SeededRandom::new(3));
        factors.add(&user);
        crate::contract::second_factors_write_only_what_was_read(&factors, &user);
    }

    #[test]
    fn hotp_matches_rfc_6238_appendix_b() {
        for (time, code) in [
            (59u64, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(hotp(RFC_SEED, time / 30, 8), code, "T = {time}");
        }
    }

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let expected = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_SEED, counter as u64, 6), *code);
        }
    }

    #[test]
    fn base32_follows_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        let secret = TotpSecret(Zeroizing::new(*RFC_SEED));
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn a_code_matches_within_one_step_of_drift_and_only_after_the_last_step() {
        let secret = TotpSecret(Zeroizing::new(*RFC_SEED));
        let now = 1_111_111_111;
        let step = now / 30;
        for drift in [-1, 0, 1] {
            let code = secret.code(step + drift);
            assert_eq!(secret.matching_step(&code, now, 0), Some(step + drift));
            assert_eq!(secret.matching_step(&code, now, step + drift), None, "used");
        }
        assert_eq!(secret.matching_step(&secret.code(step + 2), now, 0), None);
        assert_eq!(secret.matching_step(&secret.code(step - 2), now, 0), None);
        for garbage in ["", "12345", "1234567", "abcdef", "12 34 5x"] {
            assert_eq!(secret.matching_step(garbage, now, 0), None, "{garbage}");
        }
        let spaced = format!("{} {}", &secret.code(step)[..3], &secret.code(step)[3..]);
        assert_eq!(secret.matching_step(&spaced, now, 0), Some(step));
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let secret = TotpSecret(Zeroizing::new(*RFC_SEED));
        assert_eq!(
            secret.otpauth_uri("spin users", "ada+1@example.com"),
            "otpauth://totp/spin%20users:ada%2B1@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=spin%20users&algorithm=SHA1&digits=6&period=30"
        );
    }

    fn key() -> FactorKey {
        FactorKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("key")
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_account_under_its_key() {
        let mut random = SeededRandom::new(7);
        let ada = UserId::generate(&mut random);
        let bob = UserId::generate(&mut random);
        let secret = TotpSecret::generate(&mut random);
        let sealed = key().seal(&ada, &secret, &mut random);
        assert!(!sealed.contains(&secret.base32()));
        let opened = key().open(&ada, &sealed).expect("opens");
        assert_eq!(opened.base32(), secret.base32());
        assert!(matches!(
            key().open(&bob, &sealed),
            Err(SecondFactorError::Sealed)
        ));
        let other = FactorKey::parse("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").expect("key");
        assert!(matches!(
            other.open(&ada, &sealed),
            Err(SecondFactorError::Sealed)
        ));
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert!(matches!(
            key().open(&ada, &tampered),
            Err(SecondFactorError::Sealed)
        ));
        assert!(matches!(
            key().open(&ada, "plain"),
            Err(SecondFactorError::Sealed)
        ));
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        assert!(FactorKey::parse("").is_err());
        assert!(FactorKey::parse("c2hvcnQ=").is_err());
        assert!(FactorKey::parse("not base64 at all!").is_err());
    }

    struct World {
        factors: InMemoryFactors,
        key: FactorKey,
        random: SeededRandom,
        user: User,
    }

    fn world() -> World {
        let random = SeededRandom::new(11);
        let user = sample_user(11, "ada@example.com", vec![Role::User]);
        let factors = InMemoryFactors::default();
        factors.add(&user.id);
        World {
            factors,
            key: key(),
            random,
            user,
        }
    }

    impl World {
        fn at(&self, now: i64) -> SecondFactor<'_> {
            SecondFactor {
                factors: &self.factors,
                key: &self.key,
                now,
            }
        }

        /// Enrols and confirms at `now`; the secret and the recovery codes.
        fn enable(&mut self, now: i64) -> (TotpSecret, Vec<String>) {
            let enrolment = self
                .at(now)
                .enrol(&self.user, "spin-users", &mut self.random.clone())
                .expect("enrol");
            let sealed = self.factors.get(&self.user.id).pending.expect("pending");
            let secret = self.key.open(&self.user.id, &sealed).expect("open");
            assert_eq!(secret.base32(), enrolment.secret);
            let code = secret.code(now / 30);
            let codes = self
                .at(now)
                .confirm(&self.user, &code, &mut SeededRandom::new(now as u64))
                .expect("confirm");
            self.user.mfa_enabled = true;
            (secret, codes)
        }
    }

    #[test]
    fn nothing_changes_until_a_code_confirms_the_enrolment_and_that_code_is_spent() {
        let w = world();
        let now = 1_000_000;
        w.at(now)
            .enrol(&w.user, "spin-users", &mut w.random.clone())
            .expect("enrol");
        assert_eq!(w.factors.get(&w.user.id).secret, None, "not on yet");
        let sealed = w.factors.get(&w.user.id).pending.expect("pending");
        let secret = w.key.open(&w.user.id, &sealed).expect("open");
        let wrong = w
            .at(now)
            .confirm(&w.user, "000000", &mut SeededRandom::new(5));
        assert!(
            matches!(wrong, Err(SecondFactorError::Invalid)),
            "{wrong:?}"
        );
        let code = secret.code(now / 30);
        let codes = w
            .at(now)
            .confirm(&w.user, &code, &mut SeededRandom::new(5))
            .expect("confirm");
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        );
        let stored = w.factors.get(&w.user.id);
        assert!(stored.secret.is_some() && stored.pending.is_none());
        for code in &codes {
            assert!(!stored.recovery_codes.contains(&code.replace('-', "")));
        }
        let replay = w.at(now).verify(&w.user.id, &Proof::Otp(code));
        assert!(
            matches!(replay, Err(SecondFactorError::Invalid)),
            "{replay:?}"
        );
        let next = secret.code(now / 30 + 1);
        assert_eq!(
            w.at(now + 30)
                .verify(&w.user.id, &Proof::Otp(next))
                .expect("next step"),
            ProofKind::Otp
        );
    }

    #[test]
    fn each_recovery_code_works_once_in_any_spelling() {
        let mut w = world();
        let (_, codes) = w.enable(2_000_000);
        let first = codes[0].to_uppercase().replace('-', " ");
        let use_code = |w: &World, code: &str| {
            w.at(2_000_010)
                .verify(&w.user.id, &Proof::RecoveryCode(code.to_owned()))
        };
        assert_eq!(
            use_code(&w, &first).expect("first use"),
            ProofKind::RecoveryCode
        );
        assert!(matches!(
            use_code(&w, &codes[0]),
            Err(SecondFactorError::Invalid)
        ));
        assert!(use_code(&w, &codes[1]).is_ok());
        assert!(matches!(
            use_code(&w, "aaaaa-aaaaa"),
            Err(SecondFactorError::Invalid)
        ));
        let left = w.factors.get(&w.user.id).recovery_codes;
        assert_eq!(left.split_whitespace().count(), RECOVERY_CODE_COUNT - 2);
    }

    #[test]
    fn five_wrong_factors_in_a_row_lock_for_fifteen_minutes_and_a_success_resets() {
        let mut w = world();
        let now = 3_000_000;
        let (secret, _) = w.enable(now);
        let wrong = || Proof::Otp("000000".into());
        let at = now + 60;
        for _ in 0..4 {
            assert!(matches!(
                w.at(at).verify(&w.user.id, &wrong()),
                Err(SecondFactorError::Invalid)
            ));
        }
        let good = Proof::Otp(secret.code(at / 30));
        assert!(
            w.at(at).verify(&w.user.id, &good).is_ok(),
            "four failures and a success"
        );
        for _ in 0..4 {
            let _ = w.at(at).verify(&w.user.id, &wrong());
        }
        let fifth = w.at(at).verify(&w.user.id, &wrong());
        assert!(
            matches!(fifth, Err(SecondFactorError::LockedNow { until }) if until == at + FACTOR_LOCK_SECS),
            "{fifth:?}"
        );
        let good = Proof::Otp(secret.code(at / 30 + 1));
        let locked = w.at(at + 1).verify(&w.user.id, &good);
        assert!(
            matches!(locked, Err(SecondFactorError::Locked { until }) if until == at + FACTOR_LOCK_SECS),
            "{locked:?}"
        );
        let later = at + FACTOR_LOCK_SECS;
        let good = Proof::Otp(secret.code(later / 30));
        assert!(
            w.at(later).verify(&w.user.id, &good).is_ok(),
            "the lock ended"
        );
    }

    #[test]
    fn the_amr_of_each_method_round_trips_through_its_stored_form() {
        for method in [
            LoginMethod::Password,
            LoginMethod::PasswordAndOtp,
            LoginMethod::DeviceBoundPasskey,
            LoginMethod::SyncedPasskey,
        ] {
            assert_eq!(LoginMethod::parse(method.as_str()), method);
            assert_eq!(method.as_str(), method.amr().join(" "));
        }
        assert_eq!(LoginMethod::PasswordAndOtp.amr(), ["pwd", "otp", "mfa"]);
        assert_eq!(LoginMethod::SyncedPasskey.amr(), ["swk", "user"]);
        assert_eq!(LoginMethod::parse("something else"), LoginMethod::Password);
    }

    #[test]
    fn an_mfa_token_finishes_one_login_and_only_for_its_account_as_it_was() {
        let mut w = world();
        let now = 3_000_000;
        let (secret, _) = w.enable(now);
        let users = InMemoryUsers::default();
        users.put(w.user.clone());
        let tokens = InMemoryOneTimeTokens::default();
        let later = now + 60;
        let token =
            issue_mfa_token(&tokens, &w.user, later, &mut SeededRandom::new(8)).expect("issue");
        assert_eq!(token.len(), 43, "256 bits");
        let code = Proof::Otp(secret.code(later / 30));
        let finish = |token: &str, proof: &Proof, at: i64| {
            finish_mfa_login(&tokens, &users, &w.at(at), token, proof)
        };

        let tampered = format!("{}A", &token[..42]);
        assert!(matches!(
            finish(&tampered, &code, later),
            Err(MfaLoginError::Token(_))
        ));
        let wrong = finish(&token, &Proof::Otp("000000".into()), later);
        assert!(matches!(
            wrong,
            Err(MfaLoginError::Factor {
                error: SecondFactorError::Invalid,
                ..
            })
        ));
        let (user, kind) = finish(&token, &code, later).expect("the token survives a typo");
        assert_eq!((user.id, kind), (w.user.id.clone(), ProofKind::Otp));
        let next = Proof::Otp(secret.code(later / 30 + 1));
        assert!(
            matches!(
                finish(&token, &next, later + 30),
                Err(MfaLoginError::Token(_))
            ),
            "spent"
        );

        let late =
            issue_mfa_token(&tokens, &w.user, later, &mut SeededRandom::new(9)).expect("issue");
        let expired = later + MFA_TOKEN_LIFETIME_SECS;
        assert!(matches!(
            finish(&late, &Proof::Otp(secret.code(expired / 30)), expired),
            Err(MfaLoginError::Token(_))
        ));

        let moved =
            issue_mfa_token(&tokens, &w.user, later, &mut SeededRandom::new(10)).expect("issue");
        let mut changed = w.user.clone();
        changed.version += 1;
        users.put(changed);
        let after = Proof::Otp(secret.code(later / 30 + 2));
        assert!(
            matches!(
                finish(&moved, &after, later + 60),
                Err(MfaLoginError::Token(_))
            ),
            "a new password (or any change) since the password check kills the token"
        );
    }

    #[test]
    fn step_up_asks_for_a_second_factor_only_while_one_is_on() {
        let mut w = world();
        let now = 4_000_000;
        assert!(w.at(now).step_up(&w.user, None).is_ok(), "no factor yet");
        let (secret, codes) = w.enable(now);
        assert!(matches!(
            w.at(now + 30).step_up(&w.user, None),
            Err(SecondFactorError::Required)
        ));
        let code = Proof::Otp(secret.code(now / 30 + 1));
        assert!(w.at(now + 30).step_up(&w.user, Some(&code)).is_ok());
        assert!(
            matches!(
                w.at(now + 30).step_up(&w.user, Some(&code)),
                Err(SecondFactorError::Invalid)
            ),
            "a step-up code is spent like any other"
        );
        let recovery = Proof::RecoveryCode(codes[3].clone());
        assert!(w.at(now + 40).step_up(&w.user, Some(&recovery)).is_ok());
    }
}
