//! Recording audit events from a request.

use spin_sdk::http::Request;
use spin_users_domain::{AuditEntry, AuditEvent, AuditLog, UserId};
use spin_users_store::SqlAudit;

use crate::client::client;
use crate::config::Context;

/// Appends an audit record. A failure to record is logged, not returned:
/// the request it describes has already happened.
pub fn audit(
    ctx: &Context,
    req: &Request,
    event: AuditEvent,
    user_id: Option<&UserId>,
    detail: Option<&str>,
) {
    let entry = AuditEntry {
        at: ctx.now,
        event,
        user_id: user_id.cloned(),
        client_ip: client(req)
            .ok()
            .and_then(|c| c.address)
            .map(|a| a.to_string()),
        detail: detail.map(str::to_owned),
    };
    if let Err(e) = SqlAudit::new(ctx.db.as_ref()).record(&entry) {
        eprintln!("audit: could not record {}: {e}", event.as_str());
    }
}
