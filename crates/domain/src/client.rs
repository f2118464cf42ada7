//! Who the client is, for rate limits and the audit log: the peer address,
//! or behind trusted proxies the address they report in `X-Forwarded-For`,
//! bucketed so that one IPv6 customer (a /64) is one client.

use std::net::{IpAddr, Ipv6Addr};

/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `address/prefix` or a bare address (a network of one).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().ok()?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then(|| Self {
            network: masked(address, prefix),
            prefix,
        })
    }

    /// Parses a comma- or space-separated list; `None` names the first bad
    /// entry.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        text.split([',', ' '])
            .filter(|entry| !entry.trim().is_empty())
            .map(|entry| Self::parse(entry).ok_or_else(|| entry.trim().to_owned()))
            .collect()
    }

    /// Whether `address` is inside the network.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        address.is_ipv4() == self.network.is_ipv4() && masked(address, self.prefix) == self.network
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as the IPv4 they are.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// `address` with every bit after the first `prefix` cleared.
fn masked(address: IpAddr, prefix: u8) -> IpAddr {
    match canonical(address) {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

/// How clients are told apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientPolicy {
    /// Proxies whose `X-Forwarded-For` is believed (none by default).
    pub trusted_proxies: Vec<Cidr>,
    /// IPv6 addresses sharing this many leading bits are one client.
    pub ipv6_prefix: u8,
}

/// The bucket of requests whose client address is missing or unparsable:
/// they share one limit, and each is logged.
pub const UNKNOWN_CLIENT: &str = "unknown";

impl ClientPolicy {
    /// The client's address: the peer, unless the peer is a trusted proxy;
    /// then the right-most `X-Forwarded-For` entry that is not itself a
    /// trusted proxy (entries to its left are client-supplied and could be
    /// anything). `None` when the peer is missing or unparsable, or every
    /// forwarded entry is trusted or unparsable.
    pub fn client(&self, peer: Option<&str>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let peer = canonical(parse_peer(peer?)?);
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let Some(forwarded) = forwarded_for else {
            return Some(peer);
        };
        for entry in forwarded.rsplit(',') {
            let address = canonical(parse_peer(entry.trim())?);
            if !self.is_trusted(address) {
                return Some(address);
            }
        }
        // Only proxies: the left-most is as close to a client as we get.
        forwarded
            .split(',')
            .next()
            .and_then(|entry| parse_peer(entry.trim()))
            .map(canonical)
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(address))
    }

    /// The rate-limit bucket of `client`: an IPv4 address as it is, an IPv6
    /// address cut to the configured prefix, [`UNKNOWN_CLIENT`] without one.
    pub fn bucket(&self, client: Option<IpAddr>) -> String {
        match client {
            Some(IpAddr::V6(v6)) => {
                let network = masked(IpAddr::V6(v6), self.ipv6_prefix);
                format!("{network}/{}", self.ipv6_prefix)
            }
            Some(v4) => v4.to_string(),
            None => UNKNOWN_CLIENT.to_owned(),
        }
    }
}

/// An address as Spin's `spin-client-addr` (`ip:port`, `[v6]:port`) or an
/// `X-Forwarded-For` entry (`ip`, `[v6]`, `v6`, sometimes with a port)
/// writes it.
fn parse_peer(text: &str) -> Option<IpAddr> {
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = text.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    text.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(trusted: &str) -> ClientPolicy {
        ClientPolicy {
            trusted_proxies: Cidr::parse_list(trusted).expect("valid"),
            ipv6_prefix: 64,
        }
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("address"))
    }

    #[test]
    fn networks_parse_and_contain() {
        let net = Cidr::parse("10.1.0.0/16").expect("v4");
        assert!(net.contains("10.1.200.3".parse().expect("ip")));
        assert!(!net.contains("10.2.0.1".parse().expect("ip")));
        assert!(net.contains("::ffff:10.1.0.9".parse().expect("mapped")));
        let v6 = Cidr::parse("fd00::/8").expect("v6");
        assert!(v6.contains("fdab::1".parse().expect("ip")));
        assert!(!v6.contains("10.1.0.1".parse().expect("ip")));
        assert!(
            Cidr::parse("127.0.0.1")
                .expect("one")
                .contains("127.0.0.1".parse().expect("ip"))
        );
        for bad in ["10.0.0.0/33", "banana", "10.0.0.0/x", "::/129"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
        assert_eq!(Cidr::parse_list("10.0.0.0/8, nope"), Err("nope".into()));
        assert_eq!(Cidr::parse_list("").map(|l| l.len()), Ok(0));
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let none = policy("");
        assert_eq!(
            none.client(Some("203.0.113.9:5555"), Some("1.2.3.4")),
            ip("203.0.113.9")
        );
        let lb = policy("10.0.0.0/8");
        assert_eq!(
            lb.client(Some("203.0.113.9:5555"), Some("1.2.3.4")),
            ip("203.0.113.9")
        );
        assert_eq!(
            lb.client(Some("10.0.0.2:80"), Some("1.2.3.4")),
            ip("1.2.3.4")
        );
        assert_eq!(lb.client(Some("10.0.0.2:80"), None), ip("10.0.0.2"));
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        let lb = policy("10.0.0.0/8");
        // The client wrote the left-most entries itself.
        let spoofed = "6.6.6.6, 198.51.100.7, 10.0.0.5";
        assert_eq!(
            lb.client(Some("10.0.0.2:80"), Some(spoofed)),
            ip("198.51.100.7")
        );
        assert_eq!(
            lb.client(Some("10.0.0.2:80"), Some("10.0.0.9, 10.0.0.5")),
            ip("10.0.0.9")
        );
        assert_eq!(
            lb.client(Some("10.0.0.2:80"), Some("garbage, 10.0.0.5")),
            None
        );
        assert_eq!(
            lb.client(Some("[2001:db8::1]:443"), None),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn ipv6_clients_are_bucketed_by_prefix_and_unknown_is_its_own_bucket() {
        let p = policy("");
        let a = p.bucket(p.client(Some("[2001:db8:1:2:aaaa::1]:1"), None));
        let b = p.bucket(p.client(Some("[2001:db8:1:2:bbbb::9]:1"), None));
        let other = p.bucket(p.client(Some("[2001:db8:1:3::1]:1"), None));
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(p.bucket(p.client(Some("192.0.2.1:9"), None)), "192.0.2.1");
        assert_eq!(
            p.bucket(p.client(Some("::ffff:192.0.2.1"), None)),
            "192.0.2.1"
        );
        assert_eq!(p.bucket(p.client(None, None)), UNKNOWN_CLIENT);
        assert_eq!(p.bucket(p.client(Some("nonsense"), None)), UNKNOWN_CLIENT);
    }
}
