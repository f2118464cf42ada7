//! The HTTP edge shared by every spin-users component: one error type mapped
//! once to RFC 9457 `application/problem+json`, JSON responses, and method
//! checks that answer `405` with `Allow`, and RFC 6749 errors for the token
//! endpoint.
//!
//! It holds no business rules (those live in `spin-users-domain`) and never
//! hands an error to the Spin SDK, which would put the error's text in a 500
//! body: handlers return [`ApiError`] and [`respond`] turns it into a response.

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod cors;
mod oauth;
mod outbound;
mod precondition;
mod problem;
mod request;
mod response;
mod router;

pub use oauth::{OAUTH_MEDIA_TYPES, OAuthError, token_response};
pub use outbound::{CONNECT_TIMEOUT, FIRST_BYTE_TIMEOUT, Target, post};
pub use precondition::{check_if_match, retry_stale, retry_stale_writes};
pub use problem::{ApiError, Problem};
pub use request::{
    MAX_BODY_BYTES, bearer_token, body, media_type, parse_json, read_json, read_request, serve,
};
pub use response::{etag_matches, json, json_tagged, json_with_etag, respond, send};
pub use router::{Handler, Params, Route, dispatch, route};
