//! Recording audit events from a request.

use spin_sdk::http::Request;
use spin_users_domain::{AuditEntry, AuditEvent, AuditLog, UserId};
use spin_users_store::SqlAudit;

use crate::config::Context;

/// The client's IP address as Spin reports it (`spin-client-addr` is `ip:port`).
pub fn client_ip(req: &Request) -> Option<String> {
    let addr = req.header("spin-client-addr")?.as_str()?;
    let ip = match addr.rsplit_once(':') {
        Some((ip, port)) if port.bytes().all(|b| b.is_ascii_digit()) => ip,
        _ => addr,
    };
    Some(ip.trim_start_matches('[').trim_end_matches(']').to_owned())
}

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
        client_ip: client_ip(req),
        detail: detail.map(str::to_owned),
    };
    if let Err(e) = SqlAudit::new(ctx.db.as_ref()).record(&entry) {
        eprintln!("audit: could not record {}: {e}", event.as_str());
    }
}
