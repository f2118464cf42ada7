//! The app driven by outside tools over real HTTP: schemathesis checks the
//! served API against its own OpenAPI document, and Playwright drives
//! Debian's Chromium through Swagger UI and cross-origin `fetch()` calls.
//!
//! The tools live in the Python environment `scripts/test-tools.sh`
//! installs (pinned in tests/tools/requirements.txt), named by
//! `SPIN_USERS_TEST_TOOLS`. So these tests are `#[ignore]`d: `make test`
//! installs the tools and runs them with `--include-ignored`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use spin_users_component_tests::{CHOSEN_ADMIN_PASSWORD, TestApp, WebhookReceiver, workspace_root};

const ADMIN_EMAIL: &str = "root@example.com";
const ADMIN_PASSWORD: &str = "admin password";
const JOBS_TOKEN: &str = "jobs token for the contract run";
const METRICS_TOKEN: &str = "metrics token for the contract run";
const INTROSPECTION_TOKEN: &str = "introspection token for the contract run";

/// Fixed, so a failure can be replayed (`schemathesis run … --seed 1`).
const SCHEMATHESIS_SEED: &str = "1";

/// Documented answers the contract run does not reach, and where each is
/// tested instead: `(method, path, status, why)`.
const UNREACHED_ANSWERS: &[(&str, &str, &str, &str)] = &[
    (
        "DELETE",
        "/users/me/passkeys/{id}",
        "204",
        "needs the password and the id of a registered passkey; tests/api/passkeys.rs",
    ),
    (
        "DELETE",
        "/users/me/passkeys/{id}",
        "404",
        "needs the right current_password with an id the caller does not hold; tests/api/passkeys.rs",
    ),
    (
        "DELETE",
        "/users/me/passkeys/{id}",
        "429",
        "password attempts over the limit (lifted for the run), or a locked second factor; tests/api/limits.rs, tests/api/mfa.rs",
    ),
    (
        "DELETE",
        "/users/{id}/mfa",
        "412",
        "needs an existing user's id with a stale If-Match: the check of PATCH /users/{id}; tests/api/races.rs",
    ),
    (
        "POST",
        "/passkeys/login/options",
        "429",
        "the per-address login limit, lifted for the run; tests/api/limits.rs",
    ),
    (
        "POST",
        "/users/me/passkeys",
        "201",
        "needs a WebAuthn credential answering an issued challenge; tests/api/passkeys.rs, tests/tools/passkeys.py",
    ),
    (
        "POST",
        "/users/me/passkeys",
        "409",
        "needs a verified credential registered already; tests/api/passkeys.rs",
    ),
    (
        "POST",
        "/users/me/passkeys",
        "413",
        "needs a body over the size limit the generated credentials stay under; tests/api/users.rs",
    ),
    (
        "POST",
        "/users/me/passkeys/options",
        "200",
        "needs the right current_password; tests/api/passkeys.rs",
    ),
    (
        "POST",
        "/users/me/passkeys/options",
        "409",
        "needs the right current_password of an account holding 20 passkeys; spin-users-domain passkeys contract",
    ),
    (
        "POST",
        "/users/me/passkeys/options",
        "429",
        "password attempts over the limit (lifted for the run), or a locked second factor; tests/api/limits.rs, tests/api/mfa.rs",
    ),
    (
        "DELETE",
        "/users/me/mfa/totp",
        "204",
        "needs the password and a code of an enrolled account; tests/api/mfa.rs",
    ),
    (
        "DELETE",
        "/users/me/mfa/totp",
        "409",
        "needs the right current_password of an account without a factor; tests/api/mfa.rs",
    ),
    (
        "DELETE",
        "/users/me/mfa/totp",
        "429",
        "five wrong codes in a row; tests/api/mfa.rs",
    ),
    (
        "DELETE",
        "/users/{id}/mfa",
        "204",
        "needs a user with a second factor on; tests/api/mfa.rs",
    ),
    (
        "DELETE",
        "/users/{id}/mfa",
        "403",
        "the run's caller is an administrator; tests/api/mfa.rs",
    ),
    (
        "POST",
        "/token",
        "403",
        "`mfa_required` needs the password of an enrolled account; tests/api/mfa.rs",
    ),
    (
        "POST",
        "/users/me/mfa/totp",
        "200",
        "needs the right current_password; tests/api/mfa.rs and the Chromium test",
    ),
    (
        "POST",
        "/users/me/mfa/totp",
        "409",
        "needs a factor on; tests/api/mfa.rs",
    ),
    (
        "POST",
        "/users/me/mfa/totp",
        "429",
        "current_password guesses past the limit; tests/api/mfa.rs",
    ),
    (
        "POST",
        "/users/me/mfa/totp/confirm",
        "200",
        "needs the code of a pending secret; tests/api/mfa.rs and the Chromium test",
    ),
    (
        "POST",
        "/users/me/mfa/totp/confirm",
        "429",
        "five wrong codes in a row; tests/api/mfa.rs",
    ),
    (
        "GET",
        "/openapi.json",
        "200",
        "schemathesis reads the document before its report starts",
    ),
    (
        "POST",
        "/token",
        "200",
        "schemathesis's logins happen outside its report; tests/api/auth.rs",
    ),
    (
        "POST",
        "/token",
        "429",
        "limits are set out of reach for fuzzing; tests/api/limits.rs",
    ),
    (
        "POST",
        "/users",
        "413",
        "bodies over 16 KiB; tests/api/users.rs",
    ),
    ("POST", "/users", "429", "tests/api/limits.rs"),
    ("PATCH", "/users/me", "413", "tests/api/users.rs"),
    (
        "PATCH",
        "/users/me",
        "409",
        "a write racing another; tests/api/races.rs",
    ),
    (
        "PATCH",
        "/users/me",
        "429",
        "current_password guesses past the limit; tests/api/limits.rs",
    ),
    (
        "DELETE",
        "/users/me",
        "204",
        "needs the right current_password; tests/api/account.rs",
    ),
    (
        "DELETE",
        "/users/me",
        "403",
        "`password-change-required`: the run's administrator has chosen its password; tests/api/admin.rs",
    ),
    ("DELETE", "/users/me", "409", "tests/api/races.rs"),
    ("DELETE", "/users/me", "429", "tests/api/limits.rs"),
    (
        "GET",
        "/users/me",
        "304",
        "If-None-Match with the current ETag; tests/api/cache.rs",
    ),
    ("GET", "/users/{id}", "304", "tests/api/cache.rs"),
    (
        "GET",
        "/users/{id}",
        "403",
        "`password-change-required`; tests/api/admin.rs",
    ),
    (
        "POST",
        "/users/me/export",
        "403",
        "`password-change-required`; tests/api/admin.rs",
    ),
    (
        "GET",
        "/tasks",
        "403",
        "`password-change-required`; tests/api/admin.rs",
    ),
    (
        "GET",
        "/tasks/{id}",
        "403",
        "`password-change-required`; tests/api/admin.rs",
    ),
    (
        "GET",
        "/users",
        "403",
        "the run's caller is an administrator; tests/api/admin.rs",
    ),
    ("PATCH", "/users/{id}", "403", "tests/api/admin.rs"),
    ("PATCH", "/users/{id}", "409", "tests/api/races.rs"),
    ("DELETE", "/users/{id}", "403", "tests/api/admin.rs"),
    ("DELETE", "/users/{id}", "409", "tests/api/races.rs"),
    (
        "POST",
        "/logout",
        "401",
        "`?all=true` without a token: the run always sends one; tests/api/sessions.rs",
    ),
    (
        "GET",
        "/tasks/{id}",
        "304",
        "the ETag path of GET /users/{id}; tests/api/cache.rs",
    ),
    (
        "POST",
        "/tasks/{id}/retry",
        "200",
        "needs a dead job; tests/api/jobs.rs",
    ),
    (
        "POST",
        "/tasks/{id}/retry",
        "403",
        "the run's caller is an administrator; tests/api/jobs.rs",
    ),
    (
        "GET",
        "/metrics",
        "401",
        "the run always sends metrics_token; tests/api/metrics.rs",
    ),
    (
        "GET",
        "/readyz",
        "503",
        "the database down; tests/api/health.rs",
    ),
    (
        "DELETE",
        "/users/me/sessions/{id}",
        "204",
        "needs the id of a live session of the caller; tests/api/session_list.rs",
    ),
    (
        "POST",
        "/password/reset",
        "204",
        "needs a token the service mailed; tests/api/password_reset.rs",
    ),
    (
        "POST",
        "/password/reset",
        "422",
        "the password is checked once the token is known to be live; tests/api/password_reset.rs",
    ),
    (
        "POST",
        "/password/reset",
        "413",
        "bodies over 16 KiB, refused by the one serve loop; tests/api/users.rs",
    ),
    (
        "POST",
        "/users",
        "202",
        "only with email_verification = required; tests/api/verification.rs",
    ),
    (
        "POST",
        "/email/confirm-change",
        "200",
        "needs a token the service mailed; tests/api/email_change.rs",
    ),
    (
        "POST",
        "/email/confirm-change",
        "409",
        "the new address taken after the request; tests/api/email_change.rs",
    ),
    (
        "POST",
        "/email/confirm-change",
        "413",
        "bodies over 16 KiB, refused by the one serve loop; tests/api/users.rs",
    ),
    (
        "PATCH",
        "/users/me",
        "202",
        "only with webhook_url set; tests/api/email_change.rs",
    ),
    (
        "POST",
        "/email/verify",
        "200",
        "needs a token the service mailed; tests/api/verification.rs",
    ),
    (
        "POST",
        "/email/verify",
        "413",
        "bodies over 16 KiB, refused by the one serve loop; tests/api/users.rs",
    ),
    (
        "POST",
        "/users/me/verify-email",
        "403",
        "`password-change-required`: the run's administrator has chosen its password; tests/api/admin.rs",
    ),
    (
        "POST",
        "/password/forgot",
        "413",
        "bodies over 16 KiB, refused by the one serve loop; tests/api/users.rs",
    ),
    (
        "POST",
        "/introspect",
        "401",
        "the run always sends introspection_token; tests/api/standard.rs",
    ),
];

/// The tools' Python environment.
fn tools() -> PathBuf {
    std::env::var_os("SPIN_USERS_TEST_TOOLS")
        .map(PathBuf::from)
        .expect("SPIN_USERS_TEST_TOOLS names the environment scripts/test-tools.sh prints")
}

/// Runs `command` off the async runtime (the app is served on it).
async fn run(mut command: Command) -> Output {
    let program = format!("{:?}", command.get_program());
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the tool's thread")
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

fn report(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs scripts/test-tools.sh; make test runs it"]
async fn schemathesis_finds_the_api_true_to_its_document() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("SPIN_VARIABLE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SPIN_VARIABLE_JOBS_TOKEN", JOBS_TOKEN)
        .env("SPIN_VARIABLE_METRICS_TOKEN", METRICS_TOKEN)
        .env("SPIN_VARIABLE_INTROSPECTION_TOKEN", INTROSPECTION_TOKEN)
        .start()
        .await;
    let admin = app.bootstrap_admin(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin_id = app.get_with_token("/users/me", &admin).await.json()["id"]
        .as_str()
        .expect("the administrator's id")
        .to_owned();
    let origin = format!("http://{}", app.tcp_address().await);
    let reports = tempfile::tempdir().expect("tempdir");

    // Run from the report directory: nothing is written into the checkout.
    let here = workspace_root().join("tests/tools");
    let mut schemathesis = Command::new(tools().join("bin/schemathesis"));
    schemathesis
        .current_dir(reports.path())
        .env("PYTHONPATH", &here)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("SPIN_USERS_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("SPIN_USERS_ADMIN_PASSWORD", CHOSEN_ADMIN_PASSWORD)
        .env("SPIN_USERS_ADMIN_ID", &admin_id)
        .env("SPIN_USERS_JOBS_TOKEN", JOBS_TOKEN)
        .env("SPIN_USERS_METRICS_TOKEN", METRICS_TOKEN)
        .env("SPIN_USERS_INTROSPECTION_TOKEN", INTROSPECTION_TOKEN)
        .arg("--config-file")
        .arg(here.join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{origin}/openapi.json"))
        .args(["--checks", "all", "--seed", SCHEMATHESIS_SEED, "--no-color"])
        .args(["--report", "har", "--report-dir"])
        .arg(reports.path());
    let output = run(schemathesis).await;
    let printed = report(&output);
    println!("{printed}");
    assert!(output.status.success(), "schemathesis failed:\n{printed}");

    // Every documented answer was seen in the run, or is explained above.
    let document = app.get("/openapi.json").await.json();
    let documented = documented_answers(&document);
    let seen = answers_in_har(&har_file(reports.path()), &documented);
    let unexplained: Vec<_> = documented
        .iter()
        .filter(|answer| !seen.contains(*answer))
        .filter(|(method, path, status)| {
            !UNREACHED_ANSWERS.iter().any(|(m, p, s, _)| {
                (*m, *p, *s) == (method.as_str(), path.as_str(), status.as_str())
            })
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "documented answers neither reached nor explained: {unexplained:?}"
    );
    for (method, path, status, _) in UNREACHED_ANSWERS {
        let answer = (method.to_string(), path.to_string(), status.to_string());
        assert!(
            documented.contains(&answer),
            "stale explanation: {answer:?}"
        );
    }
}

type Answer = (String, String, String);

/// `(METHOD, path template, status)` for every response the document lists.
fn documented_answers(document: &serde_json::Value) -> BTreeSet<Answer> {
    let mut answers = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            for status in operation["responses"]
                .as_object()
                .expect("responses")
                .keys()
            {
                answers.insert((method.to_uppercase(), path.clone(), status.clone()));
            }
        }
    }
    answers
}

/// The one HAR file schemathesis wrote.
fn har_file(dir: &Path) -> serde_json::Value {
    let entry = std::fs::read_dir(dir)
        .expect("the report directory")
        .filter_map(Result::ok)
        .find(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("har-") && name.ends_with(".json")
        })
        .expect("schemathesis wrote a HAR report");
    let text = std::fs::read_to_string(entry.path()).expect("read the HAR report");
    serde_json::from_str(&text).expect("the HAR report is JSON")
}

/// The documented answers the HAR log shows, each request matched to its
/// path template (a literal segment beats a parameter: `/users/me` is not
/// `/users/{id}`).
fn answers_in_har(har: &serde_json::Value, documented: &BTreeSet<Answer>) -> BTreeSet<Answer> {
    let templates: BTreeSet<&str> = documented.iter().map(|(_, p, _)| p.as_str()).collect();
    let mut seen = BTreeSet::new();
    for entry in har["log"]["entries"].as_array().expect("HAR entries") {
        let method = entry["request"]["method"].as_str().unwrap_or_default();
        let url = entry["request"]["url"].as_str().unwrap_or_default();
        let status = entry["response"]["status"].to_string();
        let path = url
            .splitn(4, '/')
            .nth(3)
            .map(|rest| format!("/{}", rest.split('?').next().unwrap_or_default()))
            .unwrap_or_default();
        let template = templates
            .iter()
            .filter(|template| matches_template(template, &path))
            .min_by_key(|template| template.matches('{').count());
        if let Some(template) = template {
            seen.insert((method.to_owned(), (*template).to_owned(), status));
        }
    }
    seen
}

fn matches_template(template: &str, path: &str) -> bool {
    let (template, path): (Vec<_>, Vec<_>) =
        (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs scripts/test-tools.sh; make test runs it"]
async fn swagger_ui_and_cors_work_in_chromium() {
    // The page of "another origin" is served by the script on this port;
    // only its 127.0.0.1 origin is allowed, its 127.0.0.2 twin is not.
    let page_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let app = TestApp::spin_users()
        .env(
            "SPIN_VARIABLE_CORS_ALLOWED_ORIGINS",
            &format!("http://127.0.0.1:{page_port}"),
        )
        .start()
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let api = format!("http://{}", app.tcp_address().await);

    let port = page_port.to_string();
    let args = [api.as_str(), &port, "ada@example.com", "correct horse"];
    let printed = browser_script("browser.py", &args).await;
    assert!(
        printed.contains("ok: another origin is refused"),
        "{printed}"
    );
}

/// Runs `script` of tests/tools with `args` in the tools' Python; what it
/// printed, once it succeeded.
async fn browser_script(script: &str, args: &[&str]) -> String {
    let mut browser = Command::new(tools().join("bin/python"));
    browser
        .current_dir(workspace_root().join("tests/tools"))
        .arg(script)
        .args(args);
    let output = run(browser).await;
    let printed = report(&output);
    println!("{printed}");
    assert!(
        output.status.success(),
        "the browser test {script} failed:\n{printed}"
    );
    printed
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs scripts/test-tools.sh; make test runs it"]
async fn a_second_factor_enrols_in_chromium_from_its_qr_code() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let api = format!("http://{}", app.tcp_address().await);
    let args = [api.as_str(), "ada@example.com", "correct horse"];
    let printed = browser_script("second_factor.py", &args).await;
    assert!(
        printed.contains("ok: their amr says a second factor was used"),
        "{printed}"
    );
    let enabled = app
        .query_db("SELECT COUNT(*) FROM users WHERE totp_secret IS NOT NULL")
        .await;
    assert_eq!(enabled[0][0].as_deref(), Some("1"));
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs scripts/test-tools.sh; make test runs it"]
async fn passkeys_register_and_sign_in_in_chromium() {
    // The page is reached through the script's proxies: the allowed port
    // is the one origin webauthn_origins lists.
    let (allowed, foreign) = (free_port(), free_port());
    let app = TestApp::spin_users()
        .env(
            "SPIN_VARIABLE_WEBAUTHN_ORIGINS",
            &format!("http://localhost:{allowed}"),
        )
        .start()
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let api = format!("http://{}", app.tcp_address().await);
    let (allowed, foreign) = (allowed.to_string(), foreign.to_string());
    let args = [
        api.as_str(),
        &allowed,
        &foreign,
        "ada@example.com",
        "correct horse",
    ];
    let printed = browser_script("passkeys.py", &args).await;
    assert!(
        printed.contains("ok: a credential never registered is refused"),
        "{printed}"
    );
    let stored = app.query_db("SELECT algorithm FROM passkeys").await;
    assert_eq!(stored.len(), 1, "one passkey: {stored:?}");
    // One sign-in; the replay, the foreign origin and the stranger refused.
    let sign_ins = app
        .query_db(
            "SELECT labels, value FROM metric_counters
             WHERE name = 'spin_users_passkey_sign_ins_total' ORDER BY labels",
        )
        .await;
    let by_result: Vec<(String, String)> = sign_ins
        .into_iter()
        .map(|row| {
            (
                row[0].clone().unwrap_or_default(),
                row[1].clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        by_result,
        vec![
            ("result=\"invalid\"".to_owned(), "3".to_owned()),
            ("result=\"success\"".to_owned(), "1".to_owned()),
        ]
    );
}

/// The `link` of the first mail event of `kind` the receiver has, waiting
/// up to 10 s for it.
async fn mailed_link(receiver: &WebhookReceiver, kind: &str) -> String {
    for _ in 0..500 {
        let link = receiver.deliveries().iter().find_map(|delivery| {
            let event: serde_json::Value = serde_json::from_slice(&delivery.body).ok()?;
            (event["type"] == kind).then(|| event["data"]["link"].as_str().map(str::to_owned))?
        });
        if let Some(link) = link {
            return link;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no {kind} mail arrived");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs scripts/test-tools.sh; make test runs it"]
async fn mailed_links_open_pages_that_spend_nothing_until_submitted() {
    let receiver = WebhookReceiver::start().await;
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_WEBHOOK_URL", &receiver.url())
        .env("SPIN_VARIABLE_WEBHOOK_ORIGIN", &receiver.origin)
        .env(
            "SPIN_VARIABLE_WEBHOOK_SECRET",
            "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .start()
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let forgot = app
        .post_json(
            "/password/forgot",
            &serde_json::json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(forgot.status, 202, "{}", forgot.text());
    let access = app.access_token("ada@example.com", "correct horse").await;
    let change =
        serde_json::json!({"email": "ada@new.example", "current_password": "correct horse"});
    let asked = app
        .send_json(http::Method::PATCH, "/users/me", &access, &change)
        .await;
    assert_eq!(asked.status, 202, "{}", asked.text());
    // Without app_url or public_url the links are paths on this service.
    let api = format!("http://{}", app.tcp_address().await);
    let verify = format!(
        "{api}{}",
        mailed_link(&receiver, "email.verification").await
    );
    let reset = format!(
        "{api}{}",
        mailed_link(&receiver, "email.password_reset").await
    );
    let confirm = format!(
        "{api}{}",
        mailed_link(&receiver, "email.change_confirmation").await
    );

    let mut browser = Command::new(tools().join("bin/python"));
    browser
        .current_dir(workspace_root().join("tests/tools"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg("pages.py")
        .args([&api, &verify, &reset, &confirm])
        .args(["ada@example.com", "ada@new.example"]);
    let output = run(browser).await;
    let printed = report(&output);
    println!("{printed}");
    assert!(output.status.success(), "the pages test failed:\n{printed}");
    assert!(printed.contains("ok: the new address logs in"), "{printed}");
    let me = app
        .access_token("ada@new.example", "a passphrase from the page")
        .await;
    let account = app.get_with_token("/users/me", &me).await.json();
    assert_eq!(account["email_verified"], true, "{account}");
}
