//! Passkeys for components: the relying party from `webauthn_rp_id` and
//! `webauthn_origins`, the ceremonies over the database, and the audit
//! records and metrics of each sign-in.

use anyhow::{Result, bail};
use spin_sdk::http::Request;
use spin_users_domain::{
    AuditEvent, Counter, PasskeyFlowError, PasskeyResult, PasskeySignIn, Passkeys, RelyingParty,
};
use spin_users_store::{SqlOneTimeTokens, SqlPasskeys};

use crate::audit::audit;
use crate::config::{Context, optional};
use crate::metrics::count;

/// The relying party: `webauthn_rp_id` (a registrable domain suffix of
/// every origin's host, `localhost` by default) and `webauthn_origins`
/// (comma-separated `scheme://host[:port]`, `http://localhost:3000` by
/// default: what `make up` serves).
pub fn relying_party() -> Result<RelyingParty> {
    let id = optional("webauthn_rp_id")?.unwrap_or_else(|| "localhost".to_owned());
    let origins: Vec<String> = optional("webauthn_origins")?
        .unwrap_or_else(|| "http://localhost:3000".to_owned())
        .split(',')
        .map(|origin| origin.trim().trim_end_matches('/').to_owned())
        .filter(|origin| !origin.is_empty())
        .collect();
    if id.trim() != id || id.contains(['/', ':']) {
        bail!("variable webauthn_rp_id must be a domain (no scheme or port), got {id:?}");
    }
    if origins.iter().any(|o| !o.contains("://")) {
        bail!("variable webauthn_origins must list scheme://host[:port] origins");
    }
    Ok(RelyingParty { id, origins })
}

/// The passkey ceremonies of one request: relying party, stored passkeys
/// and challenges, opened together.
pub struct PasskeyCeremonies<'a> {
    rp: RelyingParty,
    passkeys: SqlPasskeys<'a>,
    challenges: SqlOneTimeTokens<'a>,
    now: i64,
}

impl<'a> PasskeyCeremonies<'a> {
    /// The ceremonies over `ctx`'s database; an error when the relying
    /// party's variables are malformed.
    pub fn open(ctx: &'a Context) -> Result<Self> {
        Ok(Self {
            rp: relying_party()?,
            passkeys: ctx.passkeys(),
            challenges: ctx.one_time_tokens(),
            now: ctx.now,
        })
    }

    /// The RP ID.
    pub fn rp_id(&self) -> &str {
        &self.rp.id
    }

    /// The ceremony rules.
    pub fn rules(&self) -> Passkeys<'_> {
        Passkeys {
            rp: &self.rp,
            passkeys: &self.passkeys,
            challenges: &self.challenges,
            now: self.now,
        }
    }
}

/// Records how a passkey sign-in ended: the metric, and an audit record
/// of a success or of a counter that went back.
pub fn record_sign_in(
    ctx: &Context,
    req: &Request,
    outcome: Result<&PasskeySignIn, &PasskeyFlowError>,
) {
    let result = match outcome {
        Ok(signed_in) => {
            let id = Some(&signed_in.user.id);
            audit(
                ctx,
                req,
                AuditEvent::PasskeySignedIn,
                id,
                Some(&signed_in.passkey),
            );
            PasskeyResult::Success
        }
        Err(PasskeyFlowError::CounterRegressed {
            user,
            passkey,
            stored,
            presented,
        }) => {
            let detail = format!("{passkey}: {stored} -> {presented}");
            let event = AuditEvent::PasskeyCounterRegressed;
            audit(ctx, req, event, Some(user), Some(&detail));
            PasskeyResult::CounterRegressed
        }
        Err(PasskeyFlowError::Storage(_)) => return,
        Err(_) => PasskeyResult::Invalid,
    };
    count(ctx, Counter::PasskeySignIn(result));
}
