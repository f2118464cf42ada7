//! Cross-origin resource sharing (the Fetch standard's CORS protocol): which
//! web origins may call the API from a browser, and what a preflight
//! answers. Access tokens travel in `Authorization`, never in cookies, so
//! no answer carries `Access-Control-Allow-Credentials`, and an allowed
//! origin is echoed exactly rather than answered with `*` unless the
//! configuration says any origin.

use thiserror::Error;

/// Request headers a browser may send cross-origin (preflight answer).
pub const CORS_ALLOWED_HEADERS: &str =
    "authorization, content-type, if-match, if-none-match, idempotency-key";

/// Response headers a browser script may read cross-origin.
pub const CORS_EXPOSED_HEADERS: &str = "etag, location, ratelimit, ratelimit-policy, retry-after";

/// How long a browser may reuse a preflight answer, in seconds.
pub const CORS_MAX_AGE_SECS: u32 = 600;

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsPolicy {
    /// Exact origins (`scheme://host[:port]`, lowercase).
    origins: Vec<String>,
    /// `*` was configured: any origin, answered as `*`.
    any: bool,
}

/// A configured origin that is not one.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("cors_allowed_origins: {entry:?} is not an origin (scheme://host[:port], no path)")]
pub struct CorsConfigError {
    /// The offending entry.
    pub entry: String,
}

impl CorsPolicy {
    /// Parses a comma- or whitespace-separated list of origins, or `*`.
    /// Empty means no origin: no CORS headers at all.
    pub fn parse(list: &str) -> Result<Self, CorsConfigError> {
        let mut policy = Self::default();
        for entry in list.split([',', ' ', '\t', '\n']).filter(|e| !e.is_empty()) {
            if entry == "*" {
                policy.any = true;
            } else if is_origin(entry) {
                // Browsers serialise scheme and host in lowercase.
                policy.origins.push(entry.to_ascii_lowercase());
            } else {
                return Err(CorsConfigError {
                    entry: entry.to_owned(),
                });
            }
        }
        Ok(policy)
    }

    /// The `Access-Control-Allow-Origin` value for a request from
    /// `origin`, or `None` when that origin is not allowed.
    pub fn allow_origin<'a>(&self, origin: &'a str) -> Option<&'a str> {
        if self.any {
            Some("*")
        } else if self.origins.iter().any(|o| o == origin) {
            Some(origin)
        } else {
            None
        }
    }
}

/// `scheme://host[:port]` with an http(s) scheme, a non-empty host, a
/// numeric port if any, and nothing after.
fn is_origin(entry: &str) -> bool {
    let Some((scheme, rest)) = entry.split_once("://") else {
        return false;
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return false;
    }
    let (host, port) = match rest.rsplit_once(':') {
        // An IPv6 literal's colons are inside brackets.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_allows_no_origin() {
        let policy = CorsPolicy::parse("").expect("valid");
        assert_eq!(policy.allow_origin("https://app.example.com"), None);
        assert_eq!(CorsPolicy::parse(" , ").expect("valid"), policy);
    }

    #[test]
    fn listed_origins_are_echoed_exactly_and_others_refused() {
        let policy =
            CorsPolicy::parse("https://App.example.com, http://localhost:5173").expect("valid");
        assert_eq!(
            policy.allow_origin("https://app.example.com"),
            Some("https://app.example.com")
        );
        assert_eq!(
            policy.allow_origin("http://localhost:5173"),
            Some("http://localhost:5173")
        );
        for other in [
            "https://app.example.com.evil.com",
            "http://app.example.com",
            "https://app.example.com:8443",
            "http://localhost:5174",
            "null",
            "",
        ] {
            assert_eq!(policy.allow_origin(other), None, "{other}");
        }
    }

    #[test]
    fn a_star_allows_any_origin_as_star() {
        let policy = CorsPolicy::parse("*").expect("valid");
        assert_eq!(policy.allow_origin("https://anyone.example"), Some("*"));
    }

    #[test]
    fn entries_that_are_not_origins_are_configuration_errors() {
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "ftp://app.example.com",
            "https://",
            "https://app.example.com:port",
            "https://*.example.com",
        ] {
            assert_eq!(
                CorsPolicy::parse(bad),
                Err(CorsConfigError { entry: bad.into() }),
                "{bad}"
            );
        }
        assert!(CorsPolicy::parse("http://[::1]:8080").is_ok());
    }
}
