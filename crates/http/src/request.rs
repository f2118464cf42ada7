//! Reading requests safely: size limits, content types, JSON, bearer tokens.

use serde::de::DeserializeOwned;
use spin_sdk::http::Request;

use crate::problem::ApiError;

/// Largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The media type of the request, lowercased, without parameters.
pub fn media_type(req: &Request) -> Option<String> {
    let value = req.header("content-type")?.as_str()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// The body, if it is within [`MAX_BODY_BYTES`].
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
