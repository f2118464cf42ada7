//! The Redis protocol as the user cache speaks it: commands encoded as
//! RESP2 arrays of bulk strings, replies parsed from a byte buffer that
//! may hold less than one reply, and the `redis://` address of the cache.
//!
//! No I/O happens here; the component's client (`spin-users-app`) moves
//! the bytes over `wasi:sockets` under its own deadlines.

#![deny(unsafe_code)]

use std::net::{IpAddr, SocketAddr};

/// The largest bulk string accepted from the server: cache entries are a
/// few hundred bytes, and a reply claiming more is a fault, not data.
pub const MAX_BULK_LEN: usize = 1 << 20;
/// The deepest array nesting accepted (the cache's replies are flat).
const MAX_DEPTH: usize = 4;

/// One reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`, `+PONG`.
    Simple(String),
    /// `-ERR …`: the command failed.
    Error(String),
    /// `:1`.
    Integer(i64),
    /// `$3\r\nabc`, or `$-1` (none).
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n…`, or `*-1` (none).
    Array(Option<Vec<Reply>>),
}

/// Bytes that are not RESP2, or a reply larger than this client accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Redis reply: {0}")]
pub struct ProtocolError(&'static str);

/// `args` as one RESP2 command: an array of bulk strings.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The first reply in `buf` and how many bytes it took, or `None` while
/// `buf` holds only part of one.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let Some((line, next)) = line(buf, at)? else {
        return Ok(None);
    };
    let (&kind, rest) = line.split_first().ok_or(ProtocolError("empty line"))?;
    let text = || {
        std::str::from_utf8(rest)
            .map(str::to_owned)
            .map_err(|_| ProtocolError("line is not UTF-8"))
    };
    match kind {
        b'+' => Ok(Some((Reply::Simple(text()?), next))),
        b'-' => Ok(Some((Reply::Error(text()?), next))),
        b':' => Ok(Some((Reply::Integer(integer(rest)?), next))),
        b'$' => {
            let len = integer(rest)?;
            if len == -1 {
                return Ok(Some((Reply::Bulk(None), next)));
            }
            let len = usize::try_from(len).map_err(|_| ProtocolError("negative length"))?;
            if len > MAX_BULK_LEN {
                return Err(ProtocolError("bulk string too long"));
            }
            let end = next + len;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError("bulk string not terminated"));
            }
            Ok(Some((Reply::Bulk(Some(buf[next..end].to_vec())), end + 2)))
        }
        b'*' => {
            let len = integer(rest)?;
            if len == -1 {
                return Ok(Some((Reply::Array(None), next)));
            }
            if depth >= MAX_DEPTH {
                return Err(ProtocolError("arrays nested too deep"));
            }
            let len = usize::try_from(len).map_err(|_| ProtocolError("negative length"))?;
            // Every element takes at least three bytes, so a count the
            // buffer could never hold is refused before allocating for it.
            if len > MAX_BULK_LEN / 3 {
                return Err(ProtocolError("array too long"));
            }
            let mut items = Vec::new();
            let mut at = next;
            for _ in 0..len {
                let Some((item, after)) = parse_at(buf, at, depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                at = after;
            }
            Ok(Some((Reply::Array(Some(items)), at)))
        }
        _ => Err(ProtocolError("unknown reply type")),
    }
}

/// The line starting at `at` without its CRLF, and where the next begins.
fn line(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let rest = buf.get(at..).unwrap_or_default();
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(end) => Ok(Some((&rest[..end], at + end + 2))),
        // A header line is short; one this long without an end is garbage.
        None if rest.len() > 64 * 1024 => Err(ProtocolError("line too long")),
        None => Ok(None),
    }
}

fn integer(digits: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ProtocolError("not an integer"))
}

/// Where the cache lives: `redis://[[user]:password@]IP:port[/db]`.
///
/// The host must be an IP address: Spin 4.0.2 gives components TCP
/// sockets but no name lookup. There is no TLS (`rediss://`): the client
/// runs inside the component, which has no TLS stack for raw sockets.
#[derive(Clone, PartialEq, Eq)]
pub struct CacheAddress {
    /// The server.
    pub socket: SocketAddr,
    /// `AUTH` user (Redis 6 ACL), if any.
    pub username: Option<String>,
    /// `AUTH` password, if any.
    pub password: Option<String>,
    /// `SELECT`ed database; 0 by default.
    pub database: u32,
}

impl std::fmt::Debug for CacheAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheAddress")
            .field("socket", &self.socket)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("database", &self.database)
            .finish()
    }
}

/// Why a cache address was refused; never repeats the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not `redis://…`.
    #[error(
        "the cache URL must start with redis:// (rediss:// is not supported: no TLS on raw sockets)"
    )]
    Scheme,
    /// The host is a name, not an IP address.
    #[error("the cache URL must name an IP address and port (Spin does no DNS for components)")]
    NotAnIp,
    /// Something else is wrong.
    #[error("malformed cache URL: {0}")]
    Malformed(&'static str),
}

impl CacheAddress {
    /// Parses `url`.
    pub fn parse(url: &str) -> Result<Self, AddressError> {
        let rest = url.strip_prefix("redis://").ok_or(AddressError::Scheme)?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, host) = match authority.rsplit_once('@') {
            Some((credentials, host)) => (Some(credentials), host),
            None => (None, authority),
        };
        let (username, password) = match credentials {
            None => (None, None),
            Some(c) => {
                let (user, password) = c.split_once(':').unwrap_or(("", c));
                let nonempty = |s: &str| (!s.is_empty()).then(|| percent_decode(s)).transpose();
                (nonempty(user)?, nonempty(password)?)
            }
        };
        let socket: SocketAddr = host.parse().map_err(|_| {
            let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
            let bracketed = name.trim_start_matches('[').trim_end_matches(']');
            if name.is_empty() || bracketed.parse::<IpAddr>().is_ok() {
                AddressError::Malformed("needs IP:port")
            } else {
                AddressError::NotAnIp
            }
        })?;
        let database = match path.split('?').next().unwrap_or_default() {
            "" => 0,
            db => db
                .parse()
                .map_err(|_| AddressError::Malformed("the path must be a database number"))?,
        };
        Ok(Self {
            socket,
            username,
            password,
            database,
        })
    }

    /// The commands that prepare a new connection (`AUTH`, `SELECT`).
    pub fn handshake(&self) -> Vec<Vec<u8>> {
        let mut commands = Vec::new();
        if let Some(password) = &self.password {
            commands.push(match &self.username {
                Some(user) => command(&[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => command(&[b"AUTH", password.as_bytes()]),
            });
        }
        if self.database != 0 {
            let database = self.database.to_string();
            commands.push(command(&[b"SELECT", database.as_bytes()]));
        }
        commands
    }
}

fn percent_decode(s: &str) -> Result<String, AddressError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(AddressError::Malformed("bad percent-encoding"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| AddressError::Malformed("credentials are not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_an_array_of_bulk_strings() {
        assert_eq!(
            command(&[b"SET", b"k", b"v\r\n"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn every_reply_type_parses_with_its_length() {
        let cases: &[(&[u8], Reply)] = &[
            (b"+PONG\r\n", Reply::Simple("PONG".into())),
            (b"-ERR no\r\n", Reply::Error("ERR no".into())),
            (b":42\r\n", Reply::Integer(42)),
            (b"$-1\r\n", Reply::Bulk(None)),
            (b"$0\r\n\r\n", Reply::Bulk(Some(Vec::new()))),
            (b"$4\r\na\r\nb\r\n", Reply::Bulk(Some(b"a\r\nb".to_vec()))),
            (b"*-1\r\n", Reply::Array(None)),
            (
                b"*2\r\n:1\r\n$1\r\nx\r\n",
                Reply::Array(Some(vec![
                    Reply::Integer(1),
                    Reply::Bulk(Some(b"x".to_vec())),
                ])),
            ),
        ];
        for (bytes, reply) in cases {
            let mut followed = bytes.to_vec();
            followed.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(
                parse(&followed),
                Ok(Some((reply.clone(), bytes.len()))),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn a_partial_reply_waits_for_more_at_every_cut() {
        let whole: &[u8] = b"*2\r\n$5\r\nhello\r\n:7\r\n";
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(matches!(parse(whole), Ok(Some((_, n))) if n == whole.len()));
    }

    #[test]
    fn hostile_replies_are_errors_not_allocations() {
        let huge = format!("${}\r\n", MAX_BULK_LEN + 1);
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1);
        for bytes in [
            huge.as_bytes(),
            b"*99999999999\r\n",
            b"$-2\r\n",
            b"$3\r\nabcXY",
            b":x\r\n",
            b"?\r\n",
            b"\r\n",
            deep.as_bytes(),
        ] {
            assert!(
                parse(bytes).is_err(),
                "{} parsed",
                String::from_utf8_lossy(bytes)
            );
        }
        assert!(parse(&vec![b'+'; 70 * 1024]).is_err(), "an endless line");
    }

    #[test]
    fn an_address_gives_its_socket_credentials_and_database() {
        let plain = CacheAddress::parse("redis://127.0.0.1:6379").expect("plain");
        assert_eq!(plain.socket, "127.0.0.1:6379".parse().expect("socket"));
        assert_eq!(
            (&plain.username, &plain.password, plain.database),
            (&None, &None, 0)
        );
        assert!(plain.handshake().is_empty());

        let full = CacheAddress::parse("redis://cache:p%40ss@[::1]:6380/2").expect("full");
        assert_eq!(full.socket, "[::1]:6380".parse().expect("socket"));
        assert_eq!(full.username.as_deref(), Some("cache"));
        assert_eq!(full.password.as_deref(), Some("p@ss"));
        assert_eq!(full.database, 2);
        assert_eq!(
            full.handshake(),
            vec![
                command(&[b"AUTH", b"cache", b"p@ss"]),
                command(&[b"SELECT", b"2"])
            ]
        );
        let password_only = CacheAddress::parse("redis://:secret@10.0.0.5:6379/").expect("pw");
        assert_eq!(
            password_only.handshake(),
            vec![command(&[b"AUTH", b"secret"])]
        );
        assert!(!format!("{password_only:?}").contains("secret"));
    }

    #[test]
    fn addresses_the_component_cannot_reach_are_refused_with_the_reason() {
        assert_eq!(
            CacheAddress::parse("rediss://10.0.0.5:6379"),
            Err(AddressError::Scheme)
        );
        assert_eq!(
            CacheAddress::parse("redis://cache.internal:6379"),
            Err(AddressError::NotAnIp)
        );
        for url in [
            "redis://10.0.0.5",
            "redis://:6379",
            "redis://10.0.0.5:6379/x",
        ] {
            assert!(
                matches!(CacheAddress::parse(url), Err(AddressError::Malformed(_))),
                "{url}"
            );
        }
    }
}
