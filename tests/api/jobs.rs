//! Background jobs: the welcome webhook, delivered after the registration's
//! response and by the drain route, signed the Standard Webhooks way and
//! verified here with that project's own library.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use spin_users_component_tests::{TestApp, TestAppBuilder, WebhookReceiver, concurrently};

/// A test-only webhook secret (base64 of bytes 0..32).
const WEBHOOK_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const JOBS_TOKEN: &str = "drain-secret-for-tests";

/// The service with its welcome webhook pointed at `receiver`.
fn with_webhook(receiver: &WebhookReceiver) -> TestAppBuilder {
    TestApp::spin_users()
        .env("SPIN_VARIABLE_WEBHOOK_URL", &receiver.url())
        .env("SPIN_VARIABLE_WEBHOOK_ORIGIN", &receiver.origin)
        .env("SPIN_VARIABLE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("SPIN_VARIABLE_JOBS_TOKEN", JOBS_TOKEN)
        .env("SPIN_VARIABLE_JOB_BACKOFF_SECS", "1")
}

async fn drain(app: &TestApp, token: Option<&str>) -> spin_users_component_tests::TestResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    app.request(Method::POST, "/jobs/drain", &headers, Bytes::new())
        .await
}

fn verify(delivery: &spin_users_component_tests::Delivery) {
    standardwebhooks::Webhook::new(WEBHOOK_SECRET)
        .expect("secret")
        .verify(&delivery.body, &delivery.header_map())
        .unwrap_or_else(|e| panic!("the signature does not verify: {e:?} {delivery:?}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_welcome_event_arrives_signed_after_the_response_with_no_scheduler() {
    let receiver = WebhookReceiver::start_for("user.created").await;
    let app = with_webhook(&receiver).start().await;

    let user = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;

    let deliveries = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(deliveries.len(), 1, "delivered once, with no drain call");
    let delivery = &deliveries[0];
    assert_eq!(delivery.path, "/hooks/spin-users");
    assert_eq!(delivery.header("content-type"), Some("application/json"));
    verify(delivery);
    let event: serde_json::Value = serde_json::from_slice(&delivery.body).expect("JSON");
    assert_eq!(event["type"], "user.created");
    assert_eq!(event["data"]["id"], user["id"]);
    assert_eq!(event["data"]["email"], "ada@example.com");
    let job_id = delivery.header("webhook-id").expect("webhook-id");

    // The receiver has the message before the worker records its answer.
    settled_welcome(&app).await;
    let rows = app
        .query_db(&format!(
            "SELECT state, attempts, owner FROM jobs WHERE id = '{job_id}'"
        ))
        .await;
    let expected_owner = user["id"].as_str().map(str::to_owned);
    assert_eq!(
        rows,
        vec![vec![
            Some("succeeded".into()),
            Some("1".into()),
            expected_owner
        ]]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_webhook_url_means_no_job() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let count = app.query_db("SELECT count(*) FROM jobs").await;
    assert_eq!(count, vec![vec![Some("0".into())]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_delivery_is_retried_with_the_same_webhook_id() {
    let receiver = WebhookReceiver::start_for("user.created").await;
    receiver.answer_with(500);
    let app = with_webhook(&receiver).start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let first = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].answered, 500);

    // The worker records the failure just after the receiver answered.
    until_db(
        &app,
        "SELECT state, attempts FROM jobs WHERE kind = 'welcome'",
        vec![vec![Some("failed".into()), Some("1".into())]],
    )
    .await;
    // The retry waits for its backoff (at most a second here), then the
    // scheduler's drain call delivers it.
    receiver.answer_with(200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let drained = drain(&app, Some(JOBS_TOKEN)).await;
    assert_eq!(drained.status, 200, "{}", drained.text());
    // (The hour's purge job may run in the same call.)
    assert!(
        drained.json()["succeeded"].as_u64() >= Some(1),
        "{}",
        drained.text()
    );

    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 2);
    assert_eq!(
        deliveries[0].header("webhook-id"),
        deliveries[1].header("webhook-id"),
        "a retry is the same message"
    );
    verify(&deliveries[1]);
    let job_id = deliveries[1].header("webhook-id").expect("id");
    let rows = app
        .query_db(&format!(
            "SELECT state, attempts, last_error FROM jobs WHERE id = '{job_id}'"
        ))
        .await;
    assert_eq!(
        rows,
        vec![vec![Some("succeeded".into()), Some("2".into()), None,]],
        "a success clears the earlier attempt's error"
    );
    // The metrics count both attempts, the failure, and the job's state.
    let metrics = app.get("/metrics").await.text();
    for line in [
        "spin_users_job_attempts_total{kind=\"welcome\"} 2",
        "spin_users_job_failures_total{kind=\"welcome\"} 1",
        "spin_users_jobs{kind=\"welcome\",state=\"succeeded\"} 1",
        "spin_users_jobs{kind=\"welcome\",state=\"dead\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_drain_route_refuses_a_wrong_or_missing_secret() {
    let receiver = WebhookReceiver::start_for("user.created").await;
    let app = with_webhook(&receiver).start().await;
    drain(&app, None).await.assert_problem(401, "unauthorized");
    drain(&app, Some("drain-secret-for-test"))
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(drain(&app, Some(JOBS_TOKEN)).await.status, 200);

    // Without a configured secret the route acts for nobody.
    let unset = TestApp::spin_users().start().await;
    drain(&unset, Some(""))
        .await
        .assert_problem(401, "unauthorized");
    drain(&unset, Some("anything"))
        .await
        .assert_problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_whose_worker_died_runs_again_when_its_lease_lapses() {
    let receiver = WebhookReceiver::start_for("user.created").await;
    let app = with_webhook(&receiver).start().await;
    // A worker claimed this job (attempt 1) and died: its lease lapsed.
    let event = r#"{"type":"user.created","timestamp":"1970-01-01T00:00:00Z","data":{"id":"x","email":"x@example.com"}}"#;
    let job_id = "00000000-0000-4000-8000-00000000dead";
    // The first drain creates the schema (and runs the hour's purge).
    assert_eq!(drain(&app, Some(JOBS_TOKEN)).await.status, 200);
    let inserted = app
        .query_db(&format!(
            "INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_after, \
             lease_until, created_at, updated_at) \
             VALUES ('{job_id}', 'welcome', '{event}', 'running', 1, 8, 0, 1, 0, 0) RETURNING id"
        ))
        .await;
    assert_eq!(inserted, vec![vec![Some(job_id.to_owned())]]);

    // This drain, or the first one's after-response pass if it runs late
    // (a loaded machine), takes the lapsed lease over: the job runs once.
    let drained = drain(&app, Some(JOBS_TOKEN)).await;
    assert_eq!(drained.status, 200, "{}", drained.text());
    let deliveries = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].header("webhook-id"), Some(job_id));
    verify(&deliveries[0]);
    // Recorded once the delivery's answer is read.
    let expected = vec![vec![Some("succeeded".into()), Some("2".into())]];
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = app
            .query_db(&format!(
                "SELECT state, attempts FROM jobs WHERE id = '{job_id}'"
            ))
            .await;
        if rows == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_drains_never_run_one_job_twice() {
    const JOBS: usize = 10;
    let receiver = WebhookReceiver::start_for("user.created").await;
    receiver.answer_with(503);
    let app = Arc::new(
        with_webhook(&receiver)
            .env("SPIN_VARIABLE_JOB_MAX_ATTEMPTS", "1000")
            .start()
            .await,
    );
    for n in 0..JOBS {
        app.register("Ada", &format!("ada{n}@example.com"), "correct horse")
            .await;
    }
    // Every job has failed at least once; let the after-response work end
    // and every backoff (at most a second) pass.
    receiver.wait_for(JOBS, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    receiver.answer_with(200);
    let before = receiver.deliveries().len();

    let reports = concurrently(&app, 8, |app, _| async move {
        drain(&app, Some(JOBS_TOKEN)).await
    })
    .await;
    for report in &reports {
        assert_eq!(report.status, 200, "{}", report.text());
    }
    let claimed: u64 = reports
        .iter()
        .map(|r| r.json()["claimed"].as_u64().unwrap_or(0))
        .sum();
    // Each due job once (and, should the clock pass the hour, its purge).
    assert!(
        (JOBS as u64..=JOBS as u64 + 1).contains(&claimed),
        "{claimed}"
    );

    let mut successes: HashMap<String, usize> = HashMap::new();
    for delivery in &receiver.deliveries()[before..] {
        assert_eq!(delivery.answered, 200);
        *successes
            .entry(delivery.header("webhook-id").unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    assert_eq!(successes.len(), JOBS, "{successes:?}");
    assert!(successes.values().all(|n| *n == 1), "{successes:?}");
    let states = app
        .query_db("SELECT state, count(*) FROM jobs WHERE kind = 'welcome' GROUP BY state")
        .await;
    assert_eq!(
        states,
        vec![vec![Some("succeeded".into()), Some(JOBS.to_string())]]
    );
}

/// Asks `check` every 25 ms, for up to 5 s, until it gives a value.
async fn eventually<T>(mut check: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    for _ in 0..200 {
        if let Some(value) = check().await {
            return Some(value);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

/// Waits until `sql` returns `expected`.
async fn until_db(app: &TestApp, sql: &str, expected: Vec<Vec<Option<String>>>) {
    let matched = eventually(async || (app.query_db(sql).await == expected).then_some(())).await;
    if matched.is_none() {
        let rows = app.query_db(sql).await;
        panic!("{sql} returned {rows:?}, never {expected:?}");
    }
}

/// Whether a job or task in `state` is done with (neither waiting nor
/// running).
fn is_settled(state: &str) -> bool {
    !matches!(state, "queued" | "running")
}

/// Waits until the welcome job is no longer queued or running.
async fn settled_welcome(app: &TestApp) {
    eventually(async || {
        let state = app
            .query_db("SELECT state FROM jobs WHERE kind = 'welcome'")
            .await;
        // No row yet is not settled: the job is still to be made.
        let state = state.first().and_then(|r| r[0].as_deref());
        state.is_some_and(is_settled).then_some(())
    })
    .await
    .expect("the welcome job never settled");
}

/// `GET path` with `token` until the task is no longer queued or running.
async fn settled_task(app: &TestApp, path: &str, token: &str) -> serde_json::Value {
    eventually(async || {
        let task = app.get_with_token(path, token).await;
        assert_eq!(task.status, 200, "{}", task.text());
        let body = task.json();
        body["state"]
            .as_str()
            .is_none_or(is_settled)
            .then_some(body)
    })
    .await
    .unwrap_or_else(|| panic!("{path} never settled"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_holds_the_callers_data_and_only_they_and_admins_see_it() {
    let (app, admin) = TestApp::with_admin().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    app.register("Bob", "bob@example.com", "battery staple")
        .await;
    let ada = app.access_token("ada@example.com", "correct horse").await;
    let bob = app.access_token("bob@example.com", "battery staple").await;
    let mut key = crate::passkeys::authenticator(1);
    crate::passkeys::register(&app, &ada, &mut key).await;

    let auth = format!("Bearer {ada}");
    let queued = app
        .request(
            Method::POST,
            "/users/me/export",
            &[("authorization", &auth)],
            Bytes::new(),
        )
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text());
    let location = queued.header("location").expect("Location").to_owned();
    assert_eq!(
        location,
        format!("/tasks/{}", queued.json()["id"].as_str().unwrap_or(""))
    );
    assert_eq!(queued.json()["kind"], "export");

    let done = settled_task(&app, &location, &ada).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let export = &done["result"];
    assert_eq!(export["profile"]["email"], "ada@example.com");
    assert!(export["profile"].get("password_hash").is_none());
    let sessions = export["sessions"].as_array().expect("sessions");
    assert!(!sessions.is_empty(), "{export}");
    assert!(sessions.iter().all(|s| s.get("token_hash").is_none()));
    let passkeys = export["passkeys"].as_array().expect("passkeys");
    assert_eq!(passkeys.len(), 1, "{export}");
    assert_eq!(passkeys[0]["id"], key.credential_id());
    assert_eq!(passkeys[0]["name"], "Laptop");
    assert!(passkeys[0].get("public_key").is_none());
    let events: Vec<&str> = export["audit_events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert!(events.contains(&"registered"), "{events:?}");
    assert!(!export.to_string().contains("bob@example.com"));

    // Someone else's task does not exist for Bob; an admin sees it.
    app.get_with_token(&location, &bob)
        .await
        .assert_problem(404, "not-found");
    assert_eq!(app.get_with_token(&location, &admin).await.status, 200);
    app.get_with_token("/tasks/not-a-uuid", &ada)
        .await
        .assert_problem(404, "not-found");

    // Listings: one's own; an admin's, everyone's, filterable.
    let mine = app.get_with_token("/tasks", &ada).await.json();
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1), "{mine}");
    let bobs = app.get_with_token("/tasks", &bob).await.json();
    assert_eq!(bobs["items"].as_array().map(Vec::len), Some(0), "{bobs}");
    let exports = app
        .get_with_token("/tasks?kind=export&state=succeeded", &admin)
        .await
        .json();
    assert_eq!(
        exports["items"].as_array().map(Vec::len),
        Some(1),
        "{exports}"
    );
    app.get_with_token("/tasks?state=finished", &ada)
        .await
        .assert_problem(422, "validation-failed");
}

/// Queues an export for `token`'s account and waits for it: the task's
/// path and its settled view.
async fn exported(app: &TestApp, token: &str) -> (String, serde_json::Value) {
    let auth = format!("Bearer {token}");
    let queued = app
        .request(
            Method::POST,
            "/users/me/export",
            &[("authorization", &auth)],
            Bytes::new(),
        )
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text());
    let location = queued.header("location").expect("Location").to_owned();
    let done = settled_task(app, &location, token).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    (location, done)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_export_is_not_held_behind_a_backlog_of_failing_retries() {
    let receiver = WebhookReceiver::start_for("user.created").await;
    receiver.answer_with(500);
    let app = with_webhook(&receiver).start().await;
    // Ten welcome deliveries fail once each and come due again in a second.
    for n in 0..10 {
        app.register("U", &format!("u{n}@example.com"), "correct horse")
            .await;
    }
    receiver.wait_for(10, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let ada = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let token = app.access_token("ada@example.com", "correct horse").await;
    assert!(ada["id"].is_string());

    // The export's own request runs it after its answer, before any retry.
    let (_, done) = exported(&app, &token).await;

    assert_eq!(done["state"], "succeeded", "{done}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_due_retry_runs_on_a_lone_instance_without_a_new_job() {
    let receiver = WebhookReceiver::start_for("user.created").await;
    receiver.answer_with(500);
    let app = with_webhook(&receiver).start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    settled_welcome(&app).await;
    receiver.answer_with(200);
    let token = app.access_token("ada@example.com", "correct horse").await;
    // The retry comes due within a second (`job_backoff_secs` = 1).
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    // Requests that read the database and enqueue nothing: no drain call,
    // no scheduler.
    for _ in 0..3 {
        let tasks = app.get_with_token("/tasks", &token).await;
        assert_eq!(tasks.status, 200, "{}", tasks.text());
    }
    let deliveries = receiver.wait_for(2, Duration::from_secs(10)).await;

    assert_eq!(deliveries.len(), 2);
    until_db(
        &app,
        "SELECT state FROM jobs WHERE kind = 'welcome'",
        vec![vec![Some("succeeded".into())]],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_account_deletes_its_exports() {
    let (app, admin) = TestApp::with_admin().await;
    let ada_id = app
        .register("Ada", "ada@example.com", "correct horse")
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let bob_id = app
        .register("Bob", "bob@example.com", "battery staple")
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ada = app.access_token("ada@example.com", "correct horse").await;
    let bob = app.access_token("bob@example.com", "battery staple").await;
    let (adas_export, _) = exported(&app, &ada).await;
    let (bobs_export, _) = exported(&app, &bob).await;

    let by_herself = app
        .send_json(
            Method::DELETE,
            "/users/me",
            &ada,
            &serde_json::json!({"current_password": "correct horse"}),
        )
        .await;
    let by_an_admin = app
        .send_json(
            Method::DELETE,
            &format!("/users/{bob_id}"),
            &admin,
            &serde_json::json!({}),
        )
        .await;

    assert_eq!(by_herself.status, 204, "{}", by_herself.text());
    assert_eq!(by_an_admin.status, 204, "{}", by_an_admin.text());
    for export in [adas_export, bobs_export] {
        app.get_with_token(&export, &admin)
            .await
            .assert_problem(404, "not-found");
    }
    let left = app
        .query_db(&format!(
            "SELECT count(*) FROM jobs WHERE owner IN ('{ada_id}', '{bob_id}')"
        ))
        .await;
    assert_eq!(left, vec![vec![Some("0".into())]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_names_admins_by_role_not_by_id_or_address() {
    let (app, admin) = TestApp::with_admin().await;
    let admin_id = app.get_with_token("/users/me", &admin).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ada_id = app
        .register("Ada", "ada@example.com", "correct horse")
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let changed = app
        .send_json(
            Method::PATCH,
            &format!("/users/{ada_id}"),
            &admin,
            &serde_json::json!({"roles": ["user"]}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    let ada = app.access_token("ada@example.com", "correct horse").await;

    let (_, done) = exported(&app, &ada).await;

    let events = done["result"]["audit_events"].as_array().expect("events");
    let by_admin: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "admin_changed")
        .collect();
    assert_eq!(by_admin.len(), 1, "{events:?}");
    assert_eq!(by_admin[0]["detail"], "by an administrator");
    assert!(by_admin[0]["client_ip"].is_null(), "{:?}", by_admin[0]);
    assert!(!done.to_string().contains(&admin_id), "{done}");
    let logged = app
        .query_db("SELECT detail FROM audit_log WHERE event = 'admin_changed'")
        .await;
    assert_eq!(
        logged,
        vec![vec![Some(format!("by {admin_id}"))]],
        "operators still see who"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_error_tells_its_owner_what_failed_without_transport_internals() {
    // A port nobody listens on: every delivery is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let origin = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_WEBHOOK_URL", &format!("{origin}/hook"))
        .env("SPIN_VARIABLE_WEBHOOK_ORIGIN", &origin)
        .env("SPIN_VARIABLE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("SPIN_VARIABLE_JOB_BACKOFF_SECS", "60")
        .start()
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let ada = app.access_token("ada@example.com", "correct horse").await;
    settled_welcome(&app).await;

    let tasks = app.get_with_token("/tasks?kind=welcome", &ada).await.json();

    let task = &tasks["items"][0];
    assert_eq!(task["state"], "failed", "{tasks}");
    assert_eq!(task["last_error"], "the receiver could not be reached");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_retries_a_dead_job_and_only_a_dead_one() {
    let receiver = WebhookReceiver::start_for("user.created").await;
    receiver.answer_with(500);
    let app = with_webhook(&receiver)
        .env("SPIN_VARIABLE_JOB_MAX_ATTEMPTS", "1")
        .env("SPIN_VARIABLE_ADMIN_EMAIL", "root@example.com")
        .env("SPIN_VARIABLE_ADMIN_PASSWORD", "admin password")
        .start()
        .await;
    let admin = app
        .bootstrap_admin("root@example.com", "admin password")
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let ada = app.access_token("ada@example.com", "correct horse").await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    // The delivery has arrived; the worker records its failure just after.
    let listed = app
        .get_with_token("/tasks?kind=welcome", &admin)
        .await
        .json();
    let id = listed["items"][0]["id"]
        .as_str()
        .expect("the welcome job")
        .to_owned();
    let dead = settled_task(&app, &format!("/tasks/{id}"), &admin).await;
    assert_eq!(dead["state"], "dead", "{dead}");
    let retry = format!("/tasks/{id}/retry");
    let as_ada = format!("Bearer {ada}");
    let as_admin = format!("Bearer {admin}");

    app.request(
        Method::POST,
        &retry,
        &[("authorization", &as_ada)],
        Bytes::new(),
    )
    .await
    .assert_problem(403, "forbidden");
    receiver.answer_with(200);
    let revived = app
        .request(
            Method::POST,
            &retry,
            &[("authorization", &as_admin)],
            Bytes::new(),
        )
        .await;
    assert_eq!(revived.status, 200, "{}", revived.text());
    assert_eq!(revived.json()["state"], "queued");
    // It runs after that answer, with no scheduler.
    let done = settled_task(&app, &format!("/tasks/{id}"), &admin).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(receiver.deliveries().len(), 2);
    app.request(
        Method::POST,
        &retry,
        &[("authorization", &as_admin)],
        Bytes::new(),
    )
    .await
    .assert_problem(409, "task-not-dead");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hourly_purge_removes_expired_rows_and_schedules_itself() {
    let receiver = WebhookReceiver::start_for("user.created").await;
    let app = with_webhook(&receiver)
        .env("SPIN_VARIABLE_AUDIT_RETENTION_DAYS", "30")
        .start()
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let purges = "SELECT state, run_after FROM jobs WHERE kind = 'purge' ORDER BY run_after";
    // The registration's after-response work ran this hour's purge (due
    // since the hour began, so before the welcome event).
    receiver.wait_for(1, Duration::from_secs(10)).await;
    // That work records the delivery after it arrives, then looks once more
    // for a due job: let it finish, or it takes the purge made due below.
    settled_welcome(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = app.query_db(purges).await;
    assert_eq!(before.len(), 2, "{before:?}");
    assert_eq!(before[0][0].as_deref(), Some("succeeded"));
    assert_eq!(before[1][0].as_deref(), Some("queued"), "the next hour's");
    let next: i64 = before[1][1]
        .as_deref()
        .and_then(|t| t.parse().ok())
        .expect("run_after");
    let this: i64 = before[0][1]
        .as_deref()
        .and_then(|t| t.parse().ok())
        .expect("run_after");
    assert_eq!(next - this, 3600);

    // Expired and old rows, and a current one of each.
    for sql in [
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at) VALUES ('old', 'f', 'u', 0, 1) RETURNING token_hash",
        "INSERT INTO audit_log (at, event) VALUES (1000, 'registered') RETURNING event",
        "INSERT INTO rate_limit_buckets (bucket, tat, refusals, seen, updated_at) VALUES ('old', 5, 0, 5, 5) RETURNING bucket",
        "UPDATE jobs SET run_after = 0 WHERE kind = 'purge' AND state = 'queued' RETURNING id",
    ] {
        assert_eq!(app.query_db(sql).await.len(), 1, "{sql}");
    }
    let drained = drain(&app, Some(JOBS_TOKEN)).await;
    assert_eq!(drained.json()["succeeded"], 1, "{}", drained.text());

    let count = |table: &'static str, condition: &'static str| {
        let app = &app;
        async move {
            app.query_db(&format!("SELECT count(*) FROM {table} WHERE {condition}"))
                .await[0][0]
                .clone()
        }
    };
    assert_eq!(
        count("refresh_tokens", "token_hash = 'old'").await,
        Some("0".into())
    );
    assert_eq!(count("audit_log", "at = 1000").await, Some("0".into()));
    assert_eq!(
        count("rate_limit_buckets", "bucket = 'old'").await,
        Some("0".into())
    );
    assert_eq!(
        count("audit_log", "at > 1000").await,
        Some("1".into()),
        "this registration's stays"
    );
    assert_eq!(count("users", "1 = 1").await, Some("1".into()));
    let result = app
        .query_db("SELECT result FROM jobs WHERE kind = 'purge' AND run_after = 0")
        .await;
    let report: serde_json::Value =
        serde_json::from_str(result[0][0].as_deref().unwrap_or("null")).expect("a report");
    assert_eq!(report["refresh_tokens"], 1, "{report}");
    assert_eq!(report["audit_events"], 1, "{report}");
}

/// The Redis-triggered worker (`deploy/redis-worker/spin.toml`) as a server
/// process beside `app`, on its data and `channel`.
async fn redis_worker(
    app: &TestApp,
    receiver: &WebhookReceiver,
    redis: &str,
    channel: &str,
) -> (spin_users_component_tests::ServerProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        format!(
            "[sqlite_database.default]\ntype = \"spin\"\npath = {:?}\n",
            app.sqlite_path
        ),
    )
    .expect("write runtime config");
    let mut environment: HashMap<String, String> = [
        ("JOBS_REDIS_URL", redis.to_owned()),
        ("JOBS_REDIS_CHANNEL", channel.to_owned()),
        ("WEBHOOK_URL", receiver.url()),
        ("WEBHOOK_ORIGIN", receiver.origin.clone()),
        ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("SPIN_VARIABLE_{k}"), v))
    .collect();
    if let Some(url) = &app.database_url {
        environment.insert("SPIN_VARIABLE_DATABASE_URL".into(), url.clone());
    }
    let worker = spin_users_component_tests::ServerProcess::start_subscriber(
        &spin_users_component_tests::process_program().expect("a server program"),
        &spin_users_component_tests::workspace_root().join("deploy/redis-worker/spin.toml"),
        &config,
        dir.path(),
        &environment,
        &format!("/{channel}: [worker]"),
    )
    .await
    .unwrap_or_else(|e| panic!("the worker failed to start: {e:#}"));
    (worker, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn with_jobs_redis_url_set_the_redis_worker_runs_new_jobs_and_the_request_does_not() {
    let redis = spin_users_component_tests::redis_url()
        .expect("SPIN_USERS_TEST_REDIS_URL is not set: run through `make test` (scripts/redis.sh)");
    let host_port = redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let mut id = [0u8; 6];
    getrandom::fill(&mut id).expect("random");
    let channel = format!(
        "spin-users-jobs-{}",
        id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let receiver = WebhookReceiver::start_for("user.created").await;
    let app = with_webhook(&receiver)
        .env("SPIN_VARIABLE_JOBS_REDIS_URL", &redis)
        .env("SPIN_VARIABLE_JOBS_REDIS_HOST", &host_port)
        .env("SPIN_VARIABLE_JOBS_REDIS_CHANNEL", &channel)
        .start()
        .await;

    // No worker listening: the id is published into the void, and the
    // request leaves the job to the worker, so nothing is delivered.
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        receiver.deliveries().is_empty(),
        "the request ran the job itself"
    );

    // With the worker subscribed, the next account's event arrives through it.
    let (worker, _dir) = redis_worker(&app, &receiver, &redis, &channel).await;
    app.register("Bob", "bob@example.com", "battery staple")
        .await;
    let deliveries = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    verify(&deliveries[0]);
    assert!(String::from_utf8_lossy(&deliveries[0].body).contains("bob@example.com"));

    // Ada's lost message is what the drain route is for.
    drop(worker);
    let drained = drain(&app, Some(JOBS_TOKEN)).await;
    assert_eq!(drained.status, 200, "{}", drained.text());
    let deliveries = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert!(String::from_utf8_lossy(&deliveries[1].body).contains("ada@example.com"));
}
