//! The `metrics` component: `GET /metrics` in the Prometheus text
//! exposition format, behind the `metrics_token` bearer secret when it is
//! set. It reads counters the writing requests keep and counts accounts;
//! it writes nothing.

use spin_sdk::http::{IncomingRequest, Method, Request, Response, ResponseOutparam};
use spin_sdk::http_component;
use spin_users_app::{Context, WhenUnset, exposition, require_secret};
use spin_users_domain::METRICS_CONTENT_TYPE;
use spin_users_http::{ApiError, Params, Route, dispatch, route, serve};

/// The component's routes.
const ROUTES: &[Route] = &[route(Method::Get, "/metrics", metrics)];

#[http_component]
async fn handle(incoming: IncomingRequest, outparam: ResponseOutparam) {
    serve(incoming, outparam, |req| dispatch(ROUTES, req)).await
}

/// `GET /metrics`.
fn metrics(req: &Request, _: &Params) -> Result<Response, ApiError> {
    require_secret(req, "metrics_token", WhenUnset::Open)?;
    let ctx = Context::open()?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", METRICS_CONTENT_TYPE)
        .header("cache-control", "no-store")
        .body(exposition(&ctx)?)
        .build())
}
