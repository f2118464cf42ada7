//! `allowed_outbound_hosts`: which outbound HTTP requests a component may
//! make. Spin's grammar: `scheme://host[:port]`, where scheme may be `*`,
//! host may be `*` or start with `*.` (any subdomain), and port may be a
//! number, a range `a..b` (end exclusive), or `*`; without a port, the
//! scheme's default is implied.

use anyhow::{Context, Result, bail, ensure};

/// One parsed entry of `allowed_outbound_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Pattern,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com` matches `a.example.com` and `a.b.example.com`, not `example.com`.
    SubdomainOf(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    /// Half-open range.
    Range(u16, u32),
}

impl AllowedHost {
    /// Parses one manifest entry.
    pub fn parse(entry: &str) -> Result<Self> {
        let (scheme, rest) = entry.split_once("://").with_context(|| {
            format!("{entry:?}: an allowed host needs a scheme, e.g. https://{entry}")
        })?;
        ensure!(
            !rest.contains('/') || rest.ends_with('/') && rest.matches('/').count() == 1,
            "{entry:?}: allowed hosts may not contain a path"
        );
        let rest = rest.trim_end_matches('/');
        ensure!(
            !rest.contains("{{"),
            "{entry:?}: unexpanded variable reference"
        );
        let scheme = match scheme {
            "*" => Pattern::Any,
            s if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+') => {
                Pattern::Exact(s.to_ascii_lowercase())
            }
            s => bail!("{entry:?}: invalid scheme {s:?}"),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };
        ensure!(!host.is_empty(), "{entry:?}: missing host");
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            HostPattern::SubdomainOf(domain.to_ascii_lowercase())
        } else {
            ensure!(
                !host.contains('*'),
                "{entry:?}: '*' may only be a whole host or a '*.' prefix"
            );
            HostPattern::Exact(host.to_ascii_lowercase())
        };
        let port = match port {
            Some("*") => PortPattern::Any,
            Some(range) if range.contains("..") => {
                let (start, end) = range.split_once("..").expect("checked above");
                let start: u16 = start
                    .parse()
                    .with_context(|| format!("{entry:?}: bad port range"))?;
                let end: u32 = end
                    .parse()
                    .with_context(|| format!("{entry:?}: bad port range"))?;
                ensure!(
                    u32::from(start) < end && end <= 65536,
                    "{entry:?}: empty port range"
                );
                PortPattern::Range(start, end)
            }
            Some(port) => {
                let port: u16 = port
                    .parse()
                    .with_context(|| format!("{entry:?}: bad port"))?;
                PortPattern::Range(port, u32::from(port) + 1)
            }
            None => match &scheme {
                Pattern::Exact(s) => match default_port(s) {
                    Some(port) => PortPattern::Range(port, u32::from(port) + 1),
                    None => bail!("{entry:?}: scheme {s:?} has no default port; give one"),
                },
                Pattern::Any => bail!("{entry:?}: a '*' scheme needs an explicit port"),
            },
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let scheme_ok = match &self.scheme {
            Pattern::Any => true,
            Pattern::Exact(s) => s.eq_ignore_ascii_case(scheme),
        };
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => *h == host,
            HostPattern::SubdomainOf(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        };
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Range(start, end) => port >= start && u32::from(port) < end,
        };
        scheme_ok && host_ok && port_ok
    }
}

/// The port a URL of `scheme` uses when it names none.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        _ => None,
    }
}

/// A component's whole outbound policy.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Vec<AllowedHost>,
}

impl OutboundPolicy {
    /// Parses a component's `allowed_outbound_hosts`.
    pub fn parse(entries: &[String]) -> Result<Self> {
        let allowed = entries
            .iter()
            .map(|e| AllowedHost::parse(e))
            .collect::<Result<_>>()?;
        Ok(Self { allowed })
    }

    /// Whether any entry allows `scheme://host:port`.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.allowed.iter().any(|a| a.allows(scheme, host, port))
    }

    /// Whether a connection URL such as `postgres://user:pw@db:5432/app` is
    /// allowed (credentials, path and query are ignored).
    pub fn allows_url(&self, url: &str) -> bool {
        let Some((scheme, rest)) = url.split_once("://") else {
            return false;
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) => match port.parse() {
                Ok(port) => (host, Some(port)),
                Err(_) => return false,
            },
            None => (host_port, None),
        };
        let Some(port) = port.or_else(|| default_port(scheme)) else {
            return false;
        };
        !host.is_empty() && self.allows(scheme, host, port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, scheme: &str, host: &str, port: u16) -> bool {
        AllowedHost::parse(entry)
            .unwrap_or_else(|e| panic!("{entry}: {e:#}"))
            .allows(scheme, host, port)
    }

    #[test]
    fn an_exact_host_implies_the_schemes_default_port() {
        assert!(allows(
            "https://api.example.com",
            "https",
            "api.example.com",
            443
        ));
        assert!(!allows(
            "https://api.example.com",
            "https",
            "api.example.com",
            8443
        ));
        assert!(!allows(
            "https://api.example.com",
            "http",
            "api.example.com",
            443
        ));
        assert!(!allows("https://api.example.com", "https", "evil.com", 443));
    }

    #[test]
    fn subdomain_wildcards_exclude_the_bare_domain_and_lookalikes() {
        let entry = "https://*.example.com";
        assert!(allows(entry, "https", "a.example.com", 443));
        assert!(allows(entry, "https", "a.b.example.com", 443));
        assert!(!allows(entry, "https", "example.com", 443));
        assert!(!allows(entry, "https", "evilexample.com", 443));
    }

    #[test]
    fn port_ranges_are_half_open_and_star_allows_all() {
        assert!(allows(
            "http://localhost:8000..8002",
            "http",
            "localhost",
            8001
        ));
        assert!(!allows(
            "http://localhost:8000..8002",
            "http",
            "localhost",
            8002
        ));
        assert!(allows("*://*:*", "https", "anything", 1));
    }

    #[test]
    fn malformed_entries_are_rejected() {
        for bad in [
            "example.com",
            "https://",
            "https://example.com/path",
            "*://example.com",
            "https://ex*ample.com",
            "https://example.com:99999",
            "https://{{ host }}",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn connection_urls_are_checked_by_scheme_host_and_port() {
        let policy =
            OutboundPolicy::parse(&["postgres://db.internal".to_string()]).expect("parses");
        assert!(policy.allows_url("postgres://app:secret@db.internal/users"));
        assert!(policy.allows_url("postgres://db.internal:5432/users?sslmode=disable"));
        assert!(!policy.allows_url("postgres://db.internal:6543/users"));
        assert!(!policy.allows_url("postgres://evil.example/users"));
        assert!(!policy.allows_url("not a url"));
    }

    #[test]
    fn an_empty_policy_allows_nothing() {
        let policy = OutboundPolicy::parse(&[]).expect("parses");
        assert!(!policy.allows("https", "example.com", 443));
    }
}
