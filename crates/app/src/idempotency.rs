//! `Idempotency-Key`: a retried request gets the first answer again
//! instead of running twice.

use spin_sdk::http::{Request, Response};
use spin_users_domain::{
    Begin, FieldError, IdempotencyStore, StoredResponse, key_hash, request_hash,
};
use spin_users_http::ApiError;
use spin_users_store::SqlIdempotency;

use crate::config::Context;

/// Runs `run` once per `Idempotency-Key` of `client` (the caller, or the
/// client address of an anonymous request) and `operation`: a retry with
/// the same key and body gets the stored answer (`Idempotent-Replayed:
/// true`), one with another body `422`, one while the first still runs
/// `409` (for at most the lease). Server errors and `429` are not kept, so
/// they can be retried. Without the header, `run` simply runs.
pub fn idempotent(
    ctx: &mut Context,
    req: &Request,
    operation: &str,
    client: &str,
    run: impl FnOnce(&mut Context) -> Response,
) -> Result<Response, ApiError> {
    let Some(value) = req.header("idempotency-key") else {
        return Ok(run(ctx));
    };
    let key = value
        .as_str()
        .and_then(|k| key_hash(operation, client, k))
        .ok_or_else(|| {
            FieldError::new(
                "Idempotency-Key",
                "invalid",
                "1 to 255 printable ASCII characters",
            )
        })?;
    let begun =
        SqlIdempotency::new(ctx.db.as_ref()).begin(&key, &request_hash(req.body()), ctx.now)?;
    match begun {
        Begin::Started => {}
        Begin::Replay(stored) => return Ok(replay(stored)),
        Begin::InProgress => return Err(ApiError::IdempotencyKeyInUse),
        Begin::Mismatch => return Err(ApiError::IdempotencyKeyReused),
    }
    let response = run(ctx);
    let store = SqlIdempotency::new(ctx.db.as_ref());
    // A refusal for now (429) or a server error is not the answer to keep:
    // the retry must be able to succeed.
    let status = *response.status();
    if status < 500 && status != 429 {
        store.complete(
            &key,
            &StoredResponse {
                status: *response.status(),
                body: String::from_utf8_lossy(response.body()).into_owned(),
                location: response
                    .header("location")
                    .and_then(|l| l.as_str())
                    .map(str::to_owned),
            },
        )?;
    } else {
        store.abandon(&key)?;
    }
    Ok(response)
}

/// A stored response sent again, marked as a replay.
fn replay(stored: StoredResponse) -> Response {
    let content_type = if stored.status < 300 {
        "application/json"
    } else {
        "application/problem+json"
    };
    let mut builder = Response::builder();
    builder
        .status(stored.status)
        .header("content-type", content_type)
        .header("idempotent-replayed", "true");
    if let Some(location) = stored.location {
        builder.header("location", location);
    }
    builder.body(stored.body).build()
}
