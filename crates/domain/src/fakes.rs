//! In-memory implementations of the repository traits, for unit tests here
//! and in other crates (feature `testing`). They follow the same contract as
//! the SQL stores.

use std::cell::RefCell;
use std::collections::BTreeMap;

use ciborium::Value;
use sha2::Digest as _;

use crate::admins::{ends_admin_rights, is_active_admin};
use crate::email::Email;
use crate::ending::{EndReason, SessionStates};
use crate::hashing::Credential;
use crate::name::DisplayName;
use crate::one_time::{OneTimeToken, OneTimeTokens, Purpose};
use crate::passkeys::{
    AssertionResponse, MAX_PASSKEYS, Passkey, PasskeyRepository, RegistrationResponse,
};
use crate::random::Random;
use crate::random::testing::SeededRandom;
use crate::ratelimit::{Cell, Counters, Gcra};
use crate::revocation::SessionState;
use crate::second_factor::{
    FACTOR_LOCK_SECS, FactorRecord, LoginMethod, MAX_FACTOR_FAILURES, Reservation, SecondFactors,
};
use crate::session_list::{LiveSession, SessionId};
use crate::sessions::{
    IssuedRefreshToken, SessionOwner, SessionRepository, StoredRefreshToken, hash_token,
    start_session,
};
use crate::user::{PageKey, RepoError, Role, User, UserFilter, UserId, UserRepository};

/// A test's login of `user` at `now_ms` in `repo`: a password alone, no
/// user agent.
pub fn password_login(
    repo: &dyn SessionRepository,
    user: &UserId,
    now_ms: i64,
    random: &mut dyn Random,
) -> IssuedRefreshToken {
    start_session(repo, user, now_ms, None, LoginMethod::Password, random).expect("a test login")
}

/// An enabled user named Ada for tests: id from `seed`, created and
/// updated at `seed` seconds, version 1, no revoked sessions.
pub fn sample_user(seed: u64, email: &str, roles: Vec<Role>) -> User {
    User {
        id: UserId::generate(&mut SeededRandom::new(seed)),
        email: Email::parse(email).expect("valid email"),
        name: DisplayName::parse("Ada").expect("valid name"),
        roles,
        disabled: false,
        created_at: seed as i64,
        updated_at: seed as i64,
        version: 1,
        sessions: SessionState::default(),
        password_change_required: false,
        email_verified: false,
        mfa_enabled: false,
    }
}

/// Users in a map; `calls` counts every repository call.
#[derive(Debug, Default)]
pub struct InMemoryUsers {
    users: RefCell<BTreeMap<UserId, User>>,
    /// Whether the bootstrap created an administrator.
    admin_bootstrapped: RefCell<bool>,
    credentials: RefCell<BTreeMap<UserId, Credential>>,
    /// Number of calls made, to show when a path does not touch storage.
    pub calls: RefCell<u32>,
}

impl InMemoryUsers {
    fn count(&self) {
        *self.calls.borrow_mut() += 1;
    }

    /// Stores `user` as it is, replacing any stored copy.
    pub fn put(&self, user: User) {
        self.users.borrow_mut().insert(user.id.clone(), user);
    }
}

impl UserRepository for InMemoryUsers {
    fn insert(&self, user: &User, credential: &Credential) -> Result<(), RepoError> {
        self.count();
        let mut users = self.users.borrow_mut();
        if users.values().any(|u| u.email == user.email) {
            return Err(RepoError::Conflict { field: "email" });
        }
        users.insert(user.id.clone(), user.clone());
        self.credentials
            .borrow_mut()
            .insert(user.id.clone(), credential.clone());
        Ok(())
    }

    fn has_had_admin(&self) -> Result<bool, RepoError> {
        self.count();
        let any_admin = self
            .users
            .borrow()
            .values()
            .any(|u| u.has_role(Role::Admin));
        Ok(*self.admin_bootstrapped.borrow() || any_admin)
    }

    fn insert_first_admin(&self, user: &User, credential: &Credential) -> Result<bool, RepoError> {
        if self.has_had_admin()? {
            return Ok(false);
        }
        self.insert(user, credential)?;
        *self.admin_bootstrapped.borrow_mut() = true;
        Ok(true)
    }

    fn by_id(&self, id: &UserId) -> Result<Option<User>, RepoError> {
        self.count();
        Ok(self.users.borrow().get(id).cloned())
    }

    fn by_email(&self, email: &Email) -> Result<Option<(User, Credential)>, RepoError> {
        self.count();
        let users = self.users.borrow();
        let Some(user) = users.values().find(|u| &u.email == email) else {
            return Ok(None);
        };
        let credential = self.credentials.borrow().get(&user.id).cloned();
        Ok(credential.map(|c| (user.clone(), c)))
    }

    fn credential(&self, id: &UserId, version: i64) -> Result<Option<Credential>, RepoError> {
        self.count();
        let current = self
            .users
            .borrow()
            .get(id)
            .is_some_and(|u| u.version == version);
        Ok(current
            .then(|| self.credentials.borrow().get(id).cloned())
            .flatten())
    }

    fn version(&self, id: &UserId) -> Result<Option<i64>, RepoError> {
        self.count();
        Ok(self.users.borrow().get(id).map(|u| u.version))
    }

    fn set_credential(
        &self,
        user: &User,
        credential: &Credential,
        now: i64,
    ) -> Result<(), RepoError> {
        self.count();
        match self.users.borrow_mut().get_mut(&user.id) {
            Some(stored) if stored.version == user.version => {
                self.credentials
                    .borrow_mut()
                    .insert(user.id.clone(), credential.clone());
                stored.updated_at = now;
                stored.version += 1;
                Ok(())
            }
            _ => Err(RepoError::Stale),
        }
    }

    fn update(&self, user: &User, credential: Option<&Credential>) -> Result<(), RepoError> {
        self.count();
        let mut users = self.users.borrow_mut();
        if users
            .values()
            .any(|u| u.email == user.email && u.id != user.id)
        {
            return Err(RepoError::Conflict { field: "email" });
        }
        let ends_rights = users
            .get(&user.id)
            .is_some_and(|stored| ends_admin_rights(stored, Some(user)));
        let another = users
            .values()
            .any(|u| u.id != user.id && is_active_admin(u));
        let leaves_none = ends_rights && !another;
        match users.get_mut(&user.id) {
            Some(stored) if stored.version == user.version && leaves_none => {
                Err(RepoError::LastAdmin)
            }
            Some(stored) if stored.version == user.version => {
                *stored = User {
                    created_at: stored.created_at,
                    version: user.version + 1,
                    ..user.clone()
                };
                if let Some(credential) = credential {
                    self.credentials
                        .borrow_mut()
                        .insert(user.id.clone(), credential.clone());
                }
                Ok(())
            }
            _ => Err(RepoError::Stale),
        }
    }

    fn delete(&self, id: &UserId, version: Option<i64>) -> Result<bool, RepoError> {
        self.count();
        let mut users = self.users.borrow_mut();
        let last_admin = users
            .get(id)
            .is_some_and(|stored| ends_admin_rights(stored, None))
            && !users.values().any(|u| &u.id != id && is_active_admin(u));
        match (users.get(id).map(|u| u.version), version) {
            (Some(stored), Some(expected)) if stored != expected => Err(RepoError::Stale),
            (None, Some(_)) => Err(RepoError::Stale),
            _ if last_admin => Err(RepoError::LastAdmin),
            _ => {
                self.credentials.borrow_mut().remove(id);
                Ok(users.remove(id).is_some())
            }
        }
    }

    fn list(
        &self,
        filter: &UserFilter,
        after: Option<&PageKey>,
        limit: u32,
    ) -> Result<Vec<User>, RepoError> {
        self.count();
        let mut users: Vec<User> = self
            .users
            .borrow()
            .values()
            .filter(|u| {
                filter
                    .email_prefix
                    .as_ref()
                    .is_none_or(|p| u.email.as_ref().starts_with(p.as_str()))
            })
            .filter(|u| {
                filter
                    .name_contains
                    .as_ref()
                    .is_none_or(|n| u.name.as_ref().to_lowercase().contains(&n.to_lowercase()))
            })
            .filter(|u| filter.role.is_none_or(|r| u.has_role(r)))
            .filter(|u| filter.disabled.is_none_or(|d| u.disabled == d))
            .filter(|u| after.is_none_or(|k| (u.created_at, &u.id) > (k.created_at, &k.id)))
            .cloned()
            .collect();
        users.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        users.truncate(limit as usize);
        Ok(users)
    }
}

/// Refresh tokens in a map, with the same atomic-claim contract as SQL.
#[derive(Debug, Default)]
pub struct InMemorySessions {
    tokens: RefCell<BTreeMap<String, StoredRefreshToken>>,
    /// Session rows by id.
    sessions: RefCell<BTreeMap<String, SessionRow>>,
}

/// A session row of [`InMemorySessions`].
#[derive(Debug, Clone)]
struct SessionRow {
    owner: UserId,
    created_at: i64,
    last_used_at: i64,
    user_agent: Option<String>,
    method: LoginMethod,
    ended_at: Option<i64>,
}

impl InMemorySessions {
    /// Every stored token.
    pub fn all(&self) -> Vec<StoredRefreshToken> {
        self.tokens.borrow().values().cloned().collect()
    }

    /// Clears the revocation of `token`'s row, as a successor stored after
    /// its session ended has none.
    pub fn unrevoke(&self, token: &str) {
        if let Some(t) = self.tokens.borrow_mut().get_mut(&hash_token(token)) {
            t.revoked_at = None;
        }
    }

    fn revoke_tokens(&self, family_id: &str, now: i64) {
        for t in self.tokens.borrow_mut().values_mut() {
            if t.family_id == family_id && t.revoked_at.is_none() {
                t.revoked_at = Some(now);
            }
        }
    }
}

impl SessionRepository for InMemorySessions {
    fn open(
        &self,
        family_id: &str,
        user_id: &UserId,
        now: i64,
        user_agent: Option<&str>,
        method: LoginMethod,
    ) -> Result<(), RepoError> {
        let row = SessionRow {
            owner: user_id.clone(),
            created_at: now,
            last_used_at: now,
            user_agent: user_agent.map(str::to_owned),
            method,
            ended_at: None,
        };
        self.sessions.borrow_mut().insert(family_id.to_owned(), row);
        Ok(())
    }

    fn insert(&self, token: &StoredRefreshToken) -> Result<(), RepoError> {
        self.tokens
            .borrow_mut()
            .entry(token.token_hash.clone())
            .or_insert_with(|| token.clone());
        Ok(())
    }

    fn claim(&self, token_hash: &str, now: i64) -> Result<Option<StoredRefreshToken>, RepoError> {
        let mut tokens = self.tokens.borrow_mut();
        match tokens.get_mut(token_hash) {
            Some(t) if t.rotated_at.is_none() && t.revoked_at.is_none() && t.expires_at > now => {
                t.rotated_at = Some(now);
                Ok(Some(t.clone()))
            }
            _ => Ok(None),
        }
    }

    fn find(&self, token_hash: &str) -> Result<Option<StoredRefreshToken>, RepoError> {
        Ok(self.tokens.borrow().get(token_hash).cloned())
    }

    fn advance(&self, family_id: &str, now: i64) -> Result<Option<LoginMethod>, RepoError> {
        match self.sessions.borrow_mut().get_mut(family_id) {
            Some(row) if row.ended_at.is_none() => {
                row.last_used_at = now;
                Ok(Some(row.method))
            }
            _ => Ok(None),
        }
    }

    fn end(
        &self,
        user_id: &UserId,
        family_id: &str,
        now: i64,
        _: EndReason,
    ) -> Result<bool, RepoError> {
        let ended = match self.sessions.borrow_mut().get_mut(family_id) {
            Some(row) if row.owner == *user_id && row.ended_at.is_none() => {
                row.ended_at = Some(now);
                true
            }
            _ => false,
        };
        if ended {
            self.revoke_tokens(family_id, now);
        }
        Ok(ended)
    }

    fn end_all(
        &self,
        user_id: &UserId,
        except: Option<&str>,
        now: i64,
        _: EndReason,
    ) -> Result<u64, RepoError> {
        let mut ended = Vec::new();
        for (id, row) in self.sessions.borrow_mut().iter_mut() {
            if row.owner == *user_id && row.ended_at.is_none() && Some(id.as_str()) != except {
                row.ended_at = Some(now);
                ended.push(id.clone());
            }
        }
        for id in &ended {
            self.revoke_tokens(id, now);
        }
        Ok(ended.len() as u64)
    }

    fn owner(&self, family_id: &str) -> Result<Option<SessionOwner>, RepoError> {
        Ok(self
            .sessions
            .borrow()
            .get(family_id)
            .map(|row| SessionOwner {
                user_id: row.owner.clone(),
                ended: row.ended_at.is_some(),
                method: row.method,
            }))
    }

    fn live(
        &self,
        user_id: &UserId,
        used_after: i64,
        after: Option<&PageKey<SessionId>>,
        limit: u32,
    ) -> Result<Vec<LiveSession>, RepoError> {
        let before = |created_at: i64, id: &str| match after {
            None => true,
            Some(key) => (created_at, id) < (key.created_at, key.id.as_ref()),
        };
        let mut live: Vec<LiveSession> = self
            .sessions
            .borrow()
            .iter()
            .filter(|(id, row)| {
                row.owner == *user_id
                    && row.ended_at.is_none()
                    && row.last_used_at > used_after
                    && before(row.created_at, id)
            })
            .map(|(id, row)| LiveSession {
                id: id.clone(),
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                user_agent: row.user_agent.clone(),
            })
            .collect();
        live.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        live.truncate(limit as usize);
        Ok(live)
    }
}

impl SessionStates for InMemoryUsers {
    fn change_sessions(
        &self,
        id: &UserId,
        change: &dyn Fn(&mut SessionState),
    ) -> Result<(), RepoError> {
        let Some(mut user) = self.by_id(id)? else {
            return Ok(());
        };
        change(&mut user.sessions);
        self.update(&user, None)
    }
}

/// One-time tokens in a map.
#[derive(Debug, Default)]
pub struct InMemoryOneTimeTokens {
    tokens: RefCell<BTreeMap<String, OneTimeToken>>,
}

impl OneTimeTokens for InMemoryOneTimeTokens {
    fn store(&self, token: &OneTimeToken, _now: i64) -> Result<(), RepoError> {
        self.tokens
            .borrow_mut()
            .entry(token.token_hash.clone())
            .or_insert_with(|| token.clone());
        Ok(())
    }

    fn find(
        &self,
        token_hash: &str,
        purpose: Purpose,
        now: i64,
    ) -> Result<Option<OneTimeToken>, RepoError> {
        let tokens = self.tokens.borrow();
        let live = |t: &&OneTimeToken| t.purpose == purpose && t.expires_at > now;
        Ok(tokens.get(token_hash).filter(live).cloned())
    }

    fn spend(
        &self,
        token_hash: &str,
        purpose: Purpose,
        now: i64,
    ) -> Result<Option<OneTimeToken>, RepoError> {
        let found = self.find(token_hash, purpose, now)?;
        if found.is_some() {
            self.tokens.borrow_mut().remove(token_hash);
        }
        Ok(found)
    }
}

/// Rate-limit counters in a map.
#[derive(Debug, Default)]
pub struct InMemoryCounters {
    cells: RefCell<BTreeMap<String, Cell>>,
}

impl Counters for InMemoryCounters {
    fn hit(&self, bucket: &str, gcra: Gcra, _now_secs: i64) -> Result<Cell, RepoError> {
        let mut cells = self.cells.borrow_mut();
        let cell = gcra.step(cells.get(bucket).copied());
        cells.insert(bucket.to_owned(), cell);
        Ok(cell)
    }

    fn refund(&self, bucket: &str, gcra: Gcra) -> Result<Option<Cell>, RepoError> {
        let mut cells = self.cells.borrow_mut();
        Ok(cells.get_mut(bucket).map(|cell| {
            cell.tat -= gcra.interval;
            *cell
        }))
    }

    fn clear(&self, bucket: &str) -> Result<(), RepoError> {
        self.cells.borrow_mut().remove(bucket);
        Ok(())
    }
}

/// One account's row in [`InMemoryFactors`].
#[derive(Debug, Clone, Default)]
struct FactorRow {
    record: FactorRecord,
    failures: i64,
    locked_until: i64,
}

/// Second factors in a map, with the SQL store's conditions.
#[derive(Debug, Default)]
pub struct InMemoryFactors {
    rows: RefCell<BTreeMap<UserId, FactorRow>>,
}

impl InMemoryFactors {
    /// Makes `user` an account (with no factor).
    pub fn add(&self, user: &UserId) {
        self.rows
            .borrow_mut()
            .insert(user.clone(), FactorRow::default());
    }

    /// What is stored for `user`.
    pub fn get(&self, user: &UserId) -> FactorRecord {
        self.rows.borrow()[user].record.clone()
    }
}

impl SecondFactors for InMemoryFactors {
    fn record(&self, user: &UserId) -> Result<Option<FactorRecord>, RepoError> {
        Ok(self.rows.borrow().get(user).map(|row| row.record.clone()))
    }

    fn begin(&self, user: &UserId, sealed: &str) -> Result<bool, RepoError> {
        let mut rows = self.rows.borrow_mut();
        match rows.get_mut(user) {
            Some(row) if row.record.secret.is_none() => {
                row.record.pending = Some(sealed.to_owned());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn enable(
        &self,
        user: &UserId,
        pending: &str,
        step: i64,
        recovery_codes: &str,
        _now: i64,
    ) -> Result<bool, RepoError> {
        let mut rows = self.rows.borrow_mut();
        match rows.get_mut(user) {
            Some(row)
                if row.record.secret.is_none()
                    && row.record.pending.as_deref() == Some(pending) =>
            {
                row.record = FactorRecord {
                    pending: None,
                    secret: Some(pending.to_owned()),
                    last_step: step,
                    recovery_codes: recovery_codes.to_owned(),
                };
                row.failures = 0;
                row.locked_until = 0;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn reserve(&self, user: &UserId, now: i64) -> Result<Reservation, RepoError> {
        let mut rows = self.rows.borrow_mut();
        let row = rows.get_mut(user).ok_or(RepoError::Stale)?;
        if row.locked_until > now {
            return Ok(Reservation::Locked {
                until: row.locked_until,
            });
        }
        let failures = if row.failures >= MAX_FACTOR_FAILURES {
            1
        } else {
            row.failures + 1
        };
        row.failures = failures;
        if failures >= MAX_FACTOR_FAILURES {
            row.locked_until = now + FACTOR_LOCK_SECS;
            return Ok(Reservation::Last);
        }
        Ok(Reservation::Counted)
    }

    fn accept_step(&self, user: &UserId, secret: &str, step: i64) -> Result<bool, RepoError> {
        let mut rows = self.rows.borrow_mut();
        match rows.get_mut(user) {
            Some(row)
                if row.record.secret.as_deref() == Some(secret) && row.record.last_step < step =>
            {
                row.record.last_step = step;
                row.failures = 0;
                row.locked_until = 0;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn spend_recovery_code(
        &self,
        user: &UserId,
        read: &str,
        left: &str,
    ) -> Result<bool, RepoError> {
        let mut rows = self.rows.borrow_mut();
        match rows.get_mut(user) {
            Some(row) if row.record.secret.is_some() && row.record.recovery_codes == read => {
                row.record.recovery_codes = left.to_owned();
                row.failures = 0;
                row.locked_until = 0;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn disable(&self, user: &UserId, _now: i64) -> Result<bool, RepoError> {
        let mut rows = self.rows.borrow_mut();
        match rows.get_mut(user) {
            Some(row) if row.record.secret.is_some() || row.record.pending.is_some() => {
                *row = FactorRow::default();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Passkeys in a map, with the SQL store's conditions.
#[derive(Debug, Default)]
pub struct InMemoryPasskeys {
    rows: RefCell<BTreeMap<String, Passkey>>,
}

impl PasskeyRepository for InMemoryPasskeys {
    fn insert(&self, passkey: &Passkey) -> Result<bool, RepoError> {
        let mut rows = self.rows.borrow_mut();
        let held = rows
            .values()
            .filter(|p| p.user_id == passkey.user_id)
            .count();
        if rows.contains_key(&passkey.id) || held >= MAX_PASSKEYS {
            return Ok(false);
        }
        rows.insert(passkey.id.clone(), passkey.clone());
        Ok(true)
    }

    fn by_id(&self, id: &str) -> Result<Option<Passkey>, RepoError> {
        Ok(self.rows.borrow().get(id).cloned())
    }

    fn of_user(&self, user: &UserId) -> Result<Vec<Passkey>, RepoError> {
        let mut held: Vec<Passkey> = self
            .rows
            .borrow()
            .values()
            .filter(|p| &p.user_id == user)
            .cloned()
            .collect();
        held.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(held)
    }

    fn record_use(&self, id: &str, read: u32, count: u32, now: i64) -> Result<bool, RepoError> {
        match self.rows.borrow_mut().get_mut(id) {
            Some(passkey) if passkey.sign_count == read => {
                passkey.sign_count = count;
                passkey.last_used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn delete(&self, user: &UserId, id: &str) -> Result<bool, RepoError> {
        let mut rows = self.rows.borrow_mut();
        if rows.get(id).is_some_and(|p| &p.user_id == user) {
            rows.remove(id);
            return Ok(true);
        }
        Ok(false)
    }

    fn delete_all(&self, user: &UserId) -> Result<u64, RepoError> {
        let mut rows = self.rows.borrow_mut();
        let before = rows.len();
        rows.retain(|_, p| &p.user_id != user);
        Ok((before - rows.len()) as u64)
    }
}

/// A software authenticator for tests: resident Ed25519 credentials,
/// attestation `none`, one counter per authenticator, user present and
/// verified unless told otherwise. It builds what a browser returns, by
/// its own encoding, for the relying party's parser to read.
pub struct SoftAuthenticator {
    /// The RP ID it signs for.
    pub rp_id: String,
    /// The origin its client data names.
    pub origin: String,
    /// Whether it reports UV.
    pub user_verified: bool,
    /// Whether it reports BE (a synced passkey).
    pub backup_eligible: bool,
    /// Its signature counter, moved on by every assertion; 0 stays 0.
    pub counter: u32,
    credential_id: Vec<u8>,
    key: ed25519_compact::KeyPair,
    user_handle: String,
}

impl SoftAuthenticator {
    /// An authenticator with key and credential id from `seed`.
    pub fn new(seed: u64, rp_id: &str, origin: &str) -> Self {
        let mut random = SeededRandom::new(seed);
        let mut key_seed = [0u8; 32];
        random.fill(&mut key_seed);
        let mut credential_id = vec![0u8; 16];
        random.fill(&mut credential_id);
        Self {
            rp_id: rp_id.to_owned(),
            origin: origin.to_owned(),
            user_verified: true,
            backup_eligible: false,
            counter: 1,
            credential_id,
            key: ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(key_seed)),
            user_handle: String::new(),
        }
    }

    /// Its credential id, base64url.
    pub fn credential_id(&self) -> String {
        b64(&self.credential_id)
    }

    /// `navigator.credentials.create()` answering `challenge` for the
    /// account `user_handle` (both base64url, from the options).
    pub fn create(&mut self, challenge: &str, user_handle: &str) -> RegistrationResponse {
        self.user_handle = user_handle.to_owned();
        let cose_key = cbor(&Value::Map(vec![
            (Value::from(1), Value::from(1)),  // kty: OKP
            (Value::from(3), Value::from(-8)), // alg: EdDSA
            (Value::from(-1), Value::from(6)), // crv: Ed25519
            (Value::from(-2), Value::Bytes(self.key.pk.as_ref().to_vec())),
        ]));
        let mut auth_data = self.auth_data(0x40);
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        let id_length = u16::try_from(self.credential_id.len()).expect("short id");
        auth_data.extend_from_slice(&id_length.to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&cose_key);
        let attestation = cbor(&Value::Map(vec![
            (Value::from("fmt"), Value::from("none")),
            (Value::from("attStmt"), Value::Map(vec![])),
            (Value::from("authData"), Value::Bytes(auth_data)),
        ]));
        RegistrationResponse {
            id: self.credential_id(),
            client_data_json: b64(self.client_data("webauthn.create", challenge).as_bytes()),
            attestation_object: b64(&attestation),
        }
    }

    /// `navigator.credentials.get()` answering `challenge`.
    pub fn get(&mut self, challenge: &str) -> AssertionResponse {
        if self.counter != 0 {
            self.counter += 1;
        }
        let client_data = self.client_data("webauthn.get", challenge);
        let auth_data = self.auth_data(0);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&sha2::Sha256::digest(client_data.as_bytes()));
        let signature = self.key.sk.sign(&signed, None);
        AssertionResponse {
            id: self.credential_id(),
            client_data_json: b64(client_data.as_bytes()),
            authenticator_data: b64(&auth_data),
            signature: b64(signature.as_ref()),
            user_handle: Some(self.user_handle.clone()),
        }
    }

    fn client_data(&self, kind: &str, challenge: &str) -> String {
        serde_json::json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
    }

    /// rpIdHash, flags (UP, UV and BE as set, with `extra`), counter.
    fn auth_data(&self, extra: u8) -> Vec<u8> {
        let mut flags = 0x01 | extra;
        if self.user_verified {
            flags |= 0x04;
        }
        if self.backup_eligible {
            flags |= 0x08;
        }
        let mut data = sha2::Sha256::digest(self.rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&self.counter.to_be_bytes());
        data
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("CBOR to memory");
    out
}
