//! Outbound HTTP for background work: one blocking `POST` with timeouts.
//!
//! The Spin SDK's `send` passes no request options, so a receiver that
//! accepts the connection and never answers would hold a worker for the
//! host's default (ten minutes in wasmtime-wasi-http). This goes through
//! WASI HTTP directly with connect and first-byte timeouts.

use std::time::Duration;

use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme};

/// How long a connection may take to open, and an answer to begin.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// See [`CONNECT_TIMEOUT`].
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10);

/// WASI streams take at most this much per blocking write.
const WRITE_CHUNK: usize = 4096;

/// An absolute `http` or `https` URL, split as WASI HTTP wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    https: bool,
    authority: String,
    path_with_query: String,
}

impl Target {
    /// Parses `scheme://authority/path?query`; `None` for anything else.
    pub fn parse(url: &str) -> Option<Self> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else {
            (false, url.strip_prefix("http://")?)
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let path_with_query = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        let valid = !authority.is_empty()
            && !authority.contains('@')
            && authority.bytes().all(|b| b.is_ascii_graphic());
        valid.then(|| Self {
            https,
            authority: authority.to_owned(),
            path_with_query,
        })
    }
}

/// `POST`s `body` with `headers` to `target`; the answer's status, or why
/// there was none (refused by the allow-list, unreachable, timed out).
pub fn post(target: &Target, headers: &[(&str, String)], body: &[u8]) -> Result<u16, String> {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.as_bytes().to_vec()))
        .chain([(
            "content-length".to_owned(),
            body.len().to_string().into_bytes(),
        )])
        .collect();
    let fields = Fields::from_list(&list).map_err(|e| format!("headers: {e:?}"))?;
    let request = OutgoingRequest::new(fields);
    let scheme = if target.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request
        .set_method(&Method::Post)
        .and_then(|()| request.set_scheme(Some(&scheme)))
        .and_then(|()| request.set_authority(Some(&target.authority)))
        .and_then(|()| request.set_path_with_query(Some(&target.path_with_query)))
        .map_err(|()| "the URL does not make a request".to_owned())?;
    let outgoing_body = request.body().map_err(|()| "no request body".to_owned())?;

    let options = RequestOptions::new();
    // The host may not support a timeout: the request still goes out.
    let _ = options.set_connect_timeout(Some(nanos(CONNECT_TIMEOUT)));
    let _ = options.set_first_byte_timeout(Some(nanos(FIRST_BYTE_TIMEOUT)));
    let future = outgoing_handler::handle(request, Some(options)).map_err(|e| format!("{e:?}"))?;

    {
        let stream = outgoing_body
            .write()
            .map_err(|()| "no request body stream".to_owned())?;
        for chunk in body.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("writing the body: {e:?}"))?;
        }
    }
    OutgoingBody::finish(outgoing_body, None).map_err(|e| format!("{e:?}"))?;

    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response.status()),
        Some(Ok(Err(code))) => Err(format!("{code:?}")),
        Some(Err(())) | None => Err("no response".to_owned()),
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let target = Target::parse("https://hooks.example:8443/in?x=1").expect("url");
        assert_eq!(
            target,
            Target {
                https: true,
                authority: "hooks.example:8443".into(),
                path_with_query: "/in?x=1".into()
            }
        );
        let bare = Target::parse("http://127.0.0.1:9000").expect("url");
        assert_eq!(bare.path_with_query, "/");
        assert_eq!(
            Target::parse("http://h?q").map(|t| t.path_with_query),
            Some("/?q".into())
        );
    }

    #[test]
    fn other_urls_are_refused() {
        for url in [
            "ftp://h/x",
            "http://",
            "http:///x",
            "//h/x",
            "http://user@h/x",
            "http://h h/",
        ] {
            assert_eq!(Target::parse(url), None, "{url}");
        }
    }
}
