//! The `jobs` component: background jobs as clients see them, and the
//! private route that runs them.
//!
//! - `POST /users/me/export`: enqueues an export of everything stored about
//!   the caller; `202` with `Location: /tasks/<id>`.
//! - `GET /tasks`, `GET /tasks/:id`: the caller's jobs (admins: everyone's),
//!   with the result once done; anyone else's job is `404`.
//! - `POST /tasks/:id/retry` (admins): a `dead` job queued again.
//! - `POST /jobs/drain`: for a scheduler (a Kubernetes CronJob, cron, a
//!   platform scheduler), behind the `jobs_token` bearer secret; without
//!   the secret it refuses every call.
//!
//! Jobs this invocation enqueued run right after its answer has left.

use std::time::Duration;

use spin_sdk::http::{IncomingRequest, Method, Request, Response, ResponseOutparam};
use spin_sdk::http_component;
use spin_users_api::{TaskPage, task_view};
use spin_users_app::{
    Budget, Context, WhenUnset, after_response, drain, enqueue_export, require_secret, retry_dead,
};
use spin_users_domain::{JobId, JobQueue, TaskQuery};
use spin_users_http::{ApiError, Params, Route, dispatch, json, json_with_etag, route, serve};

/// The component's routes; literal paths before captures.
const ROUTES: &[Route] = &[
    route(Method::Post, "/users/me/export", export),
    route(Method::Get, "/tasks", list),
    route(Method::Get, "/tasks/:id", task),
    route(Method::Post, "/tasks/:id/retry", retry),
    route(Method::Post, "/jobs/drain", drain_jobs),
];

/// One drain call's work: bounded so a scheduler's call returns well
/// within common gateway timeouts; what is left waits for the next call.
const DRAIN_BUDGET: Budget = Budget {
    jobs: 100,
    time: Duration::from_secs(20),
};

#[http_component]
async fn handle(incoming: IncomingRequest, outparam: ResponseOutparam) {
    serve(incoming, outparam, |req| dispatch(ROUTES, req)).await;
    after_response();
}

fn context() -> Result<Context, ApiError> {
    Ok(Context::open()?)
}

/// The job `:id` names, if `caller` may see it; `404` otherwise.
fn visible_job(
    ctx: &Context,
    params: &Params,
    caller: &spin_users_domain::User,
) -> Result<spin_users_domain::Job, ApiError> {
    let id = JobId::parse(params.get("id").unwrap_or_default()).ok_or(ApiError::NotFound)?;
    ctx.jobs()
        .get(&id)?
        .filter(|job| job.visible_to(caller))
        .ok_or(ApiError::NotFound)
}

/// `POST /users/me/export`.
fn export(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let ctx = context()?;
    let caller = ctx.users().current_caller(req)?;
    let id = enqueue_export(&ctx, &caller.user)?;
    let job = ctx.jobs().get(&id)?.ok_or(ApiError::NotFound)?;
    let mut response = json(202, &task_view(&job))?;
    response.set_header("location", format!("/tasks/{}", id.as_ref()));
    Ok(response)
}

/// `GET /tasks?limit=&cursor=&state=&kind=` (admins also `owner=`).
fn list(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let ctx = context()?;
    let users = ctx.users();
    // Admins see everyone's jobs: a decision on the current rights.
    let caller = users.with_current_rights(req, users.caller(req)?)?;
    let pairs: Vec<_> = form_urlencoded::parse(req.query().as_bytes()).collect();
    let query = TaskQuery::parse(
        &caller.user,
        pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
    )?;
    let (items, next_cursor) = query.page(&ctx.jobs())?;
    json(
        200,
        &TaskPage {
            items: items.iter().map(task_view).collect(),
            next_cursor,
        },
    )
}

/// `GET /tasks/:id`.
fn task(req: &Request, params: &Params) -> Result<Response, ApiError> {
    let ctx = context()?;
    let users = ctx.users();
    let caller = users.with_current_rights(req, users.caller(req)?)?;
    let job = visible_job(&ctx, params, &caller.user)?;
    json_with_etag(req, &task_view(&job))
}

/// `POST /tasks/:id/retry` (admins).
fn retry(req: &Request, params: &Params) -> Result<Response, ApiError> {
    let ctx = context()?;
    let caller = ctx.users().current_caller(req)?;
    caller.require_admin()?;
    let job = visible_job(&ctx, params, &caller.user)?;
    if !retry_dead(&ctx, &job.id)? {
        return Err(ApiError::TaskNotDead);
    }
    let job = ctx.jobs().get(&job.id)?.ok_or(ApiError::NotFound)?;
    json(200, &task_view(&job))
}

/// `POST /jobs/drain`: runs due jobs; answers what it did.
fn drain_jobs(req: &Request, _: &Params) -> Result<Response, ApiError> {
    require_secret(req, "jobs_token", WhenUnset::Refuse)?;
    let ctx = context()?;
    json(200, &drain(&ctx, DRAIN_BUDGET)?)
}
