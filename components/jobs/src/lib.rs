//! The `jobs` component: `POST /jobs/drain`, the private route a scheduler
//! (a Kubernetes CronJob, cron, a platform scheduler) calls to run due
//! background jobs, behind the `jobs_token` bearer secret. Without the
//! secret the route refuses every call.

use std::time::Duration;

use spin_sdk::http::{IncomingRequest, Method, Request, Response, ResponseOutparam};
use spin_sdk::http_component;
use spin_users_app::{Budget, Context, WhenUnset, drain, require_secret};
use spin_users_http::{ApiError, Params, Route, dispatch, json, route, serve};

/// The component's routes.
const ROUTES: &[Route] = &[route(Method::Post, "/jobs/drain", drain_jobs)];

/// One call's work: bounded so a scheduler's call returns well within
/// common gateway timeouts; what is left waits for the next call.
const DRAIN_BUDGET: Budget = Budget {
    jobs: 100,
    time: Duration::from_secs(20),
};

#[http_component]
async fn handle(incoming: IncomingRequest, outparam: ResponseOutparam) {
    serve(incoming, outparam, |req| dispatch(ROUTES, req)).await
}

/// `POST /jobs/drain`: runs due jobs; answers what it did.
fn drain_jobs(req: &Request, _: &Params) -> Result<Response, ApiError> {
    require_secret(req, "jobs_token", WhenUnset::Refuse)?;
    let ctx = Context::open()?;
    json(200, &drain(&ctx, DRAIN_BUDGET)?)
}
