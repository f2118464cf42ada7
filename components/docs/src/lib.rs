//! The `docs` component: the OpenAPI 3.1 document (`GET /openapi.json`),
//! built from the same Rust types the other components send. It holds no
//! data and no secret.

use spin_sdk::http::{IncomingRequest, Method, Request, Response, ResponseOutparam};
use spin_sdk::http_component;
use spin_users_api::openapi_json;
use spin_users_http::{ApiError, Params, Route, dispatch, route, serve};

/// The component's routes.
const ROUTES: &[Route] = &[route(Method::Get, "/openapi.json", document)];

#[http_component]
async fn handle(incoming: IncomingRequest, outparam: ResponseOutparam) {
    serve(incoming, outparam, |req| dispatch(ROUTES, req)).await
}

/// `GET /openapi.json`.
fn document(_: &Request, _: &Params) -> Result<Response, ApiError> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "public, max-age=300")
        .body(openapi_json())
        .build())
}
