//! The `health` component: service identity (`GET /`), liveness
//! (`GET /healthz`) and readiness (`GET /readyz`, which queries the database
//! and asks the cache store, each within its bound). It owns no data.

use spin_sdk::http::{IncomingRequest, Method, Request, Response, ResponseOutparam};
use spin_sdk::http_component;
use spin_sdk::variables;
use spin_users_app::{CacheStore, database};
use spin_users_domain::{Check, Readiness, ServiceInfo};
use spin_users_http::{ApiError, Params, Route, dispatch, json, route, serve};

/// The component's routes.
const ROUTES: &[Route] = &[
    route(Method::Get, "/", service_info),
    route(Method::Get, "/healthz", liveness),
    route(Method::Get, "/readyz", readiness),
];

#[http_component]
async fn handle(incoming: IncomingRequest, outparam: ResponseOutparam) {
    serve(incoming, outparam, |req| dispatch(ROUTES, req)).await
}

/// `GET /`: name (the `service_name` variable) and version.
fn service_info(_: &Request, _: &Params) -> Result<Response, ApiError> {
    let name = variables::get("service_name")
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("reading service_name: {e}")))?;
    json(200, &ServiceInfo::new(name))
}

/// `GET /healthz`: the instance runs. Deliberately checks nothing else, so
/// an orchestrator restarts the process only for its own faults.
fn liveness(_: &Request, _: &Params) -> Result<Response, ApiError> {
    json(200, &serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: every dependency answers. 200 when ready, otherwise 503
/// problem+json listing the checks; causes go to the log only. The
/// database is the one the service uses: PostgreSQL when `database_url` is
/// set, the embedded SQLite database otherwise.
fn readiness(_: &Request, _: &Params) -> Result<Response, ApiError> {
    let database = database()
        .query("SELECT 1", &[])
        .map(drop)
        .map_err(|e| e.to_string());
    let cache = CacheStore::open().and_then(|cache| cache.check());
    if let Err(e) = &database {
        eprintln!("readyz: database check failed: {e}");
    }
    if let Err(e) = &cache {
        eprintln!("readyz: key-value check failed: {e}");
    }
    let readiness = Readiness::new()
        .with(
            "database",
            Check::from_result(&database, "the database cannot be opened or queried"),
        )
        .with(
            "key_value",
            Check::from_result(&cache, "the cache store cannot be opened or read"),
        );
    let checks =
        serde_json::to_value(readiness.checks()).map_err(|e| ApiError::Internal(e.into()))?;
    if readiness.is_ready() {
        json(
            200,
            &serde_json::json!({ "status": "ready", "checks": checks }),
        )
    } else {
        let mut extensions = serde_json::Map::new();
        extensions.insert("checks".into(), checks);
        Err(ApiError::NotReady { extensions })
    }
}
