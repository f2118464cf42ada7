//! `GET /metrics`: the Prometheus exposition, read by a real parser, counts
//! what the requests did; an optional bearer secret guards it; cached
//! reads count nothing.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use http::Method;
use spin_users_component_tests::{TestApp, TestResponse};

/// The samples of `resp`, parsed by `prometheus-parse`, by series
/// (`name{label="value"}`, labels sorted).
fn samples(resp: &TestResponse) -> HashMap<String, f64> {
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let lines = resp
        .text()
        .lines()
        .map(|l| Ok(l.to_owned()))
        .collect::<Vec<_>>();
    let scrape = prometheus_parse::Scrape::parse(lines.into_iter()).expect("valid exposition");
    assert!(!scrape.docs.is_empty(), "HELP lines are served");
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            labels.sort();
            let key = match labels.is_empty() {
                true => s.metric,
                false => format!("{}{{{}}}", s.metric, labels.join(",")),
            };
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                other => panic!("unexpected sample {other:?}"),
            };
            (key, value)
        })
        .collect()
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("{series} not served: {samples:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_logins_refreshes_lockouts_and_accounts() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_ACCOUNT", "2/900")
        .start()
        .await;
    let before = samples(&app.get("/metrics").await);
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    app.register("Bob", "bob@example.com", "correct horse")
        .await;
    let login = app.login("ada@example.com", "correct horse").await.json();
    let refresh = login["refresh_token"].as_str().expect("refresh token");
    assert_eq!(app.refresh(refresh).await.status, 200);
    assert_eq!(
        app.login("nobody@example.com", "correct horse")
            .await
            .status,
        400
    );
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));
    for _ in 0..2 {
        let guess = app
            .login_from(attacker, "bob@example.com", "wrong guess")
            .await;
        assert_eq!(guess.status, 400);
    }
    for _ in 0..2 {
        let locked = app
            .login_from(attacker, "bob@example.com", "wrong guess")
            .await;
        assert_eq!(locked.status, 429);
    }
    app.query_db("UPDATE users SET disabled = 1 WHERE email = 'bob@example.com'")
        .await;

    let after = samples(&app.get("/metrics").await);

    let delta = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(delta("spin_users_logins_total{result=\"success\"}"), 1.0);
    assert_eq!(
        delta("spin_users_logins_total{result=\"unknown_account\"}"),
        1.0
    );
    assert_eq!(
        delta("spin_users_logins_total{result=\"wrong_password\"}"),
        2.0
    );
    assert_eq!(delta("spin_users_logins_total{result=\"locked\"}"), 2.0);
    assert_eq!(
        delta("spin_users_logins_total{result=\"rate_limited\"}"),
        0.0
    );
    assert_eq!(delta("spin_users_refresh_rotations_total"), 1.0);
    assert_eq!(delta("spin_users_lockouts_total"), 1.0, "counted once");
    assert_eq!(
        delta("spin_users_rate_limited_requests_total{policy=\"login-account\"}"),
        2.0
    );
    assert_eq!(value(&after, "spin_users_users"), 2.0);
    assert_eq!(value(&after, "spin_users_users_disabled"), 1.0);
    assert_eq!(value(&after, "spin_users_admins"), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_reuse_is_counted() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let login = app.login("ada@example.com", "correct horse").await.json();
    let token = login["refresh_token"].as_str().expect("refresh token");
    assert_eq!(app.refresh(token).await.status, 200);
    // Outside the grace window, as in audit.rs.
    app.query_db(
        "UPDATE refresh_tokens SET rotated_at = rotated_at - 3600 WHERE rotated_at IS NOT NULL",
    )
    .await;
    assert_eq!(app.refresh(token).await.status, 400);

    let after = samples(&app.get("/metrics").await);

    assert_eq!(
        value(&after, "spin_users_refresh_reuse_detected_total"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cached_reads_count_nothing() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let token = app.access_token("ada@example.com", "correct horse").await;
    let before = app
        .query_db("SELECT name, labels, value FROM metric_counters")
        .await;

    for _ in 0..5 {
        assert_eq!(app.get_with_token("/users/me", &token).await.status, 200);
    }

    let after = app
        .query_db("SELECT name, labels, value FROM metric_counters")
        .await;
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configured_token_guards_the_metrics() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_METRICS_TOKEN", "scrape-secret-1")
        .start()
        .await;

    let anonymous = app.get("/metrics").await;
    let wrong = app
        .request(
            Method::GET,
            "/metrics",
            &[("authorization", "Bearer scrape-secret-2")],
            "",
        )
        .await;
    let right = app
        .request(
            Method::GET,
            "/metrics",
            &[("authorization", "Bearer scrape-secret-1")],
            "",
        )
        .await;

    anonymous.assert_problem(401, "unauthorized");
    wrong.assert_problem(401, "unauthorized");
    assert!(samples(&right).contains_key("spin_users_users"));
}

/// Every metric name a query of `deploy/grafana/spin-users.json` uses.
fn dashboard_metric_names() -> Vec<String> {
    let path = spin_users_component_tests::workspace_root().join("deploy/grafana/spin-users.json");
    let text = std::fs::read_to_string(&path).expect("dashboard file");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut names = Vec::new();
    for panel in panels {
        let targets = panel["targets"].as_array().expect("every panel queries");
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("a PromQL expr");
            let found: Vec<String> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("spin_users_"))
                .map(str::to_owned)
                .collect();
            assert!(!found.is_empty(), "{expr} uses a spin_users_ metric");
            names.extend(found);
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn every_dashboard_query_uses_a_served_metric() {
    let app = TestApp::spin_users().start().await;
    let served = samples(&app.get("/metrics").await);
    let served_names: Vec<&str> = served
        .keys()
        .map(|series| series.split('{').next().unwrap_or(series))
        .collect();

    let used = dashboard_metric_names();

    for name in &used {
        assert!(
            served_names.contains(&name.as_str()),
            "{name} is not served"
        );
    }
    for wanted in [
        "spin_users_logins_total",
        "spin_users_lockouts_total",
        "spin_users_rate_limited_requests_total",
        "spin_users_refresh_reuse_detected_total",
        "spin_users_sessions_ended_total",
        "spin_users_introspections_total",
        "spin_users_emails_total",
        "spin_users_password_resets_total",
    ] {
        assert!(
            used.iter().any(|n| n == wanted),
            "the dashboard shows {wanted}"
        );
    }
}
