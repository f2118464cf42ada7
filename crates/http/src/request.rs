//! Reading requests safely: size limits, content types, JSON, bearer tokens.

use futures::StreamExt;
use serde::de::DeserializeOwned;
use spin_sdk::http::{IncomingRequest, Method, Request, Response, ResponseOutparam};

use crate::problem::ApiError;

/// Largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Reads an incoming request into a [`Request`], refusing bodies over
/// [`MAX_BODY_BYTES`] without buffering them: a declared `Content-Length`
/// over the limit is refused before reading, and a streamed body is
/// refused as soon as it passes the limit.
pub async fn read_request(incoming: IncomingRequest) -> Result<Request, ApiError> {
    let too_large = ApiError::PayloadTooLarge {
        limit: MAX_BODY_BYTES,
    };
    let headers = incoming.headers();
    let declared = headers
        .get("content-length")
        .first()
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large);
    }
    let method = incoming.method();
    let uri = incoming.uri();
    let mut body = Vec::new();
    let mut stream = incoming.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|_| ApiError::InvalidJson("the request body could not be read".into()))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large);
        }
        body.extend(chunk);
    }
    Ok(Request::builder()
        .method(method)
        .uri(uri)
        .headers(headers)
        .body(body)
        .build())
}

/// The entry point every component uses: reads the request within the
/// size limit, hands it to `handler`, and sends the answer in one piece
/// ([`crate::send`]). `HEAD` is answered as `GET` without the body (RFC
/// 9110 §9.3.2), so every `GET` route supports it with the same status and
/// headers, and `Allow` lists it wherever `GET` is.
pub async fn serve(
    incoming: IncomingRequest,
    outparam: ResponseOutparam,
    handler: impl FnOnce(&Request) -> Response,
) {
    let head = matches!(incoming.method(), Method::Head);
    // Read first, so that a browser can read even a refused body's answer.
    let origin = incoming
        .headers()
        .get("origin")
        .first()
        .and_then(|v| String::from_utf8(v.clone()).ok());
    let response = match read_request(incoming).await {
        Ok(req) if head => handler(&as_get(req)),
        Ok(req) => handler(&req),
        Err(e) => crate::respond(Err(e)),
    };
    let response = crate::cors::decorate(origin.as_deref(), response);
    crate::response::send_answer(response, outparam, head);
}

/// `req` with the method `GET`.
fn as_get(req: Request) -> Request {
    let headers: Vec<(String, Vec<u8>)> = req
        .headers()
        .map(|(name, value)| (name.to_owned(), value.as_bytes().to_vec()))
        .collect();
    let mut builder = Request::builder();
    builder.method(Method::Get).uri(req.uri());
    for (name, value) in headers {
        builder.header(name, String::from_utf8_lossy(&value).into_owned());
    }
    builder.body(req.into_body()).build()
}

/// The media type of the request, lowercased, without parameters.
pub fn media_type(req: &Request) -> Option<String> {
    let value = req.header("content-type")?.as_str()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// The body, if it is within [`MAX_BODY_BYTES`] (already ensured for
/// requests read by [`read_request`]).
pub fn body(req: &Request) -> Result<&[u8], ApiError> {
    let body = req.body();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(body)
}

/// Decodes a JSON body into `T`: `415` unless the content type is JSON,
/// `413` when too large, `400` for invalid UTF-8, syntax or shape.
pub fn read_json<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let is_json = media_type(req).is_some_and(|t| t == "application/json" || t.ends_with("+json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType {
            accept: &["application/json"],
        });
    }
    parse_json(body(req)?)
}

/// Decodes `bytes` as JSON into `T` (`400` on failure).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    std::str::from_utf8(bytes)
        .map_err(|_| ApiError::InvalidJson("the body is not UTF-8".into()))?;
    serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidJson(describe(&e)))
}

/// A serde error without echoing input values (they may be passwords).
fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "syntax error",
        Category::Eof => "unexpected end of input",
        Category::Data => "a field is missing or has the wrong type",
        Category::Io => "could not read the body",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(req: &Request) -> Result<&str, ApiError> {
    let header = req
        .header("authorization")
        .ok_or(ApiError::Unauthorized("no Authorization header"))?
        .as_str()
        .ok_or(ApiError::Unauthorized("Authorization header is not text"))?;
    let (scheme, token) = header
        .split_once(' ')
        .ok_or(ApiError::Unauthorized("malformed Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized("not a Bearer token"));
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Body {
        #[allow(dead_code)]
        password: String,
    }

    #[test]
    fn json_errors_never_echo_the_input() {
        let err = parse_json::<Body>(br#"{"password": 12345678}"#).expect_err("wrong type");
        let ApiError::InvalidJson(reason) = err else {
            panic!("expected InvalidJson")
        };
        assert!(!reason.contains("12345678"), "{reason}");
    }

    #[test]
    fn invalid_utf8_and_bad_syntax_are_400s() {
        assert!(matches!(
            parse_json::<Body>(b"\xff\xfe"),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b"{"),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b"[]"),
            Err(ApiError::InvalidJson(_))
        ));
    }
}
