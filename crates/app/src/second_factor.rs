//! Second factors for components: the key from `mfa_encryption_key`, the
//! factor store whose profile-changing writes drop the cached user, and the
//! audit records and metrics of every check.

use anyhow::{Context as _, Result};
use spin_sdk::http::Request;
use spin_users_domain::{
    AuditEvent, Counter, FactorKey, FactorRecord, Proof, ProofKind, RepoError, Reservation,
    SecondFactor, SecondFactorError, SecondFactors, UpdateError, User, UserId,
};
use spin_users_http::ApiError;
use spin_users_store::SqlSecondFactors;

use crate::audit::audit;
use crate::cache::CachedUsers;
use crate::config::{Context, optional};
use crate::metrics::count;

/// The key second factors are sealed with, from `mfa_encryption_key`.
/// Without one no factor can be enrolled or checked: that is an error at
/// first use, never a fallback to storing secrets in the clear.
fn factor_key() -> Result<FactorKey> {
    let encoded = optional("mfa_encryption_key")?.context(
        "variable mfa_encryption_key is empty: second factors need a key \
         (base64 of 32 random bytes; `make up` generates one for development)",
    )?;
    FactorKey::parse(&encoded).map_err(|e| anyhow::anyhow!("variable mfa_encryption_key: {e}"))
}

/// Second factors in the database; the writes that turn one on or off
/// (which `mfa_enabled` shows) go through the user cache.
struct CachedFactors<'a> {
    db: SqlSecondFactors<'a>,
    users: &'a CachedUsers<'a>,
}

impl<'a> CachedFactors<'a> {
    /// The factors of the users `users` caches.
    fn new(ctx: &'a Context, users: &'a CachedUsers<'a>) -> Self {
        Self {
            db: SqlSecondFactors::new(ctx.db.as_ref()),
            users,
        }
    }
}

impl SecondFactors for CachedFactors<'_> {
    fn record(&self, user: &UserId) -> Result<Option<FactorRecord>, RepoError> {
        self.db.record(user)
    }

    fn begin(&self, user: &UserId, sealed: &str) -> Result<bool, RepoError> {
        self.db.begin(user, sealed)
    }

    fn enable(
        &self,
        user: &UserId,
        pending: &str,
        step: i64,
        recovery_codes: &str,
        now: i64,
    ) -> Result<bool, RepoError> {
        self.users.writing(user, || {
            self.db.enable(user, pending, step, recovery_codes, now)
        })
    }

    fn reserve(&self, user: &UserId, now: i64) -> Result<Reservation, RepoError> {
        self.db.reserve(user, now)
    }

    fn accept_step(&self, user: &UserId, secret: &str, step: i64) -> Result<bool, RepoError> {
        self.db.accept_step(user, secret, step)
    }

    fn spend_recovery_code(
        &self,
        user: &UserId,
        read: &str,
        left: &str,
    ) -> Result<bool, RepoError> {
        self.db.spend_recovery_code(user, read, left)
    }

    fn disable(&self, user: &UserId, now: i64) -> Result<bool, RepoError> {
        self.users.writing(user, || self.db.disable(user, now))
    }
}

/// The second factors of a request: the key and the store, opened
/// together, and the rules over them at the request's clock.
pub struct Factors<'a> {
    key: FactorKey,
    store: CachedFactors<'a>,
    now: i64,
}

impl<'a> Factors<'a> {
    /// The factors of the users `users` caches; an error when no key is
    /// configured ([`factor_key`]).
    pub fn open(ctx: &'a Context, users: &'a CachedUsers<'a>) -> Result<Self> {
        Ok(Self {
            key: factor_key()?,
            store: CachedFactors::new(ctx, users),
            now: ctx.now,
        })
    }

    /// The second-factor rules.
    pub fn rules(&self) -> SecondFactor<'_> {
        SecondFactor {
            factors: &self.store,
            key: &self.key,
            now: self.now,
        }
    }
}

/// Records how a check of a `proof` second factor of `user` ended: the
/// metrics, and an audit record when it locked the factor.
pub fn record_check(
    ctx: &Context,
    req: &Request,
    user: &UserId,
    proof: ProofKind,
    outcome: Result<(), &SecondFactorError>,
) {
    if let Err(SecondFactorError::LockedNow { until }) = outcome {
        let detail = format!("until {until}");
        audit(
            ctx,
            req,
            AuditEvent::SecondFactorLocked,
            Some(user),
            Some(&detail),
        );
    }
    for counter in Counter::second_factor(proof, outcome) {
        count(ctx, counter);
    }
}

/// The step-up of one request ([`spin_users_domain::StepUp`]): the proof
/// its body gave, checked against the account's factor once; a write
/// redone after a race does not spend the code again.
pub struct RequestStepUp<'a> {
    ctx: &'a Context,
    req: &'a Request,
    users: &'a CachedUsers<'a>,
    proof: Option<Proof>,
    proven: bool,
    asked: bool,
}

impl<'a> RequestStepUp<'a> {
    /// The step-up of `req` with `proof`.
    pub fn new(
        ctx: &'a Context,
        req: &'a Request,
        users: &'a CachedUsers<'a>,
        proof: Option<Proof>,
    ) -> Self {
        Self {
            ctx,
            req,
            users,
            proof,
            proven: false,
            asked: false,
        }
    }

    /// Passes when `user` has no factor on, or the proof passes its factor.
    /// Asked only once the request's password passed.
    pub fn prove(&mut self, user: &User) -> Result<(), UpdateError> {
        self.asked = true;
        if self.proven || !user.mfa_enabled {
            return Ok(());
        }
        let factors = Factors::open(self.ctx, self.users)
            .map_err(|e| SecondFactorError::Unkeyed(format!("{e:#}")))?;
        let outcome = factors.rules().step_up(user, self.proof.as_ref());
        if let Some(proof) = &self.proof {
            let kind = proof.kind();
            record_check(
                self.ctx,
                self.req,
                &user.id,
                kind,
                outcome.as_ref().copied(),
            );
        }
        outcome?;
        self.proven = true;
        Ok(())
    }

    /// Whether the request's password passed: the step-up was asked,
    /// which happens only then. A wrong second factor after a right
    /// password counts against the factor's lock, not the password limits.
    pub fn password_passed(&self) -> bool {
        self.asked
    }

    /// The body field the proof came in (`code` when there was none).
    pub fn field(&self) -> &'static str {
        self.proof.as_ref().map_or("code", Proof::field)
    }

    /// `e` as the answer, naming `field` ([`Self::field`]) for a second
    /// factor that failed.
    pub fn error(field: &'static str, e: UpdateError) -> ApiError {
        match e {
            UpdateError::SecondFactor(e) => ApiError::second_factor(e, field),
            other => other.into(),
        }
    }
}
