//! The client of a request, from Spin's `spin-client-addr` and, behind
//! trusted proxies, `X-Forwarded-For` (rules in `spin_users_domain::ClientPolicy`).

use std::net::IpAddr;

use anyhow::{Context as _, Result};
use spin_sdk::http::Request;
use spin_sdk::variables;
use spin_users_domain::{Cidr, ClientPolicy};

/// IPv6 prefix length that makes one client when `client_ipv6_prefix` is
/// empty: a /64 is what one customer gets.
const DEFAULT_IPV6_PREFIX: u8 = 64;

/// A request's client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Its address, when known (for the audit log).
    pub address: Option<IpAddr>,
    /// Its rate-limit bucket (an IPv4 address, an IPv6 prefix, or
    /// `unknown`).
    pub bucket: String,
}

/// The policy from the `trusted_proxies` (CIDRs, comma-separated, empty by
/// default) and `client_ipv6_prefix` variables.
fn client_policy() -> Result<ClientPolicy> {
    let trusted = variables::get("trusted_proxies").context("reading variable trusted_proxies")?;
    let trusted_proxies = Cidr::parse_list(&trusted).map_err(|entry| {
        anyhow::anyhow!("variable trusted_proxies: {entry:?} is not an address or CIDR network")
    })?;
    let prefix =
        variables::get("client_ipv6_prefix").context("reading variable client_ipv6_prefix")?;
    let ipv6_prefix = match prefix.trim() {
        "" => DEFAULT_IPV6_PREFIX,
        text => text
            .parse()
            .ok()
            .filter(|p| (1..=128).contains(p))
            .with_context(|| {
                format!("variable client_ipv6_prefix must be 1 to 128, got {text:?}")
            })?,
    };
    Ok(ClientPolicy {
        trusted_proxies,
        ipv6_prefix,
    })
}

/// The client of `req`. A request without a usable address (which Spin
/// should never send) lands in the shared `unknown` bucket and is logged.
pub fn client(req: &Request) -> Result<Client> {
    let header = |name: &str| req.header(name).and_then(|v| v.as_str());
    let peer = header("spin-client-addr");
    let policy = client_policy()?;
    let address = policy.client(peer, header("x-forwarded-for"));
    if address.is_none() {
        eprintln!(
            "client address: none usable (spin-client-addr {peer:?}); using the shared unknown bucket"
        );
    }
    Ok(Client {
        address,
        bucket: policy.bucket(address),
    })
}
