//! Rate limits and lockout: atomic counters, 429 with Retry-After and the
//! IETF RateLimit headers, no account enumeration through lockouts.

use std::net::IpAddr;
use std::sync::Arc;

use http::Method;

use serde_json::json;
use spin_users_component_tests::{TestApp, concurrently};

/// The service with `login_limit_per_account` at `limit`, and Ada
/// registered with the password "correct horse".
async fn ada_with_account_limit(limit: &str) -> TestApp {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_ACCOUNT", limit)
        .start()
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    app
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_is_limited_per_client_address() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_REGISTER_LIMIT_PER_IP", "3/3600")
        .start()
        .await;
    let register = |n: u32| {
        let body =
            json!({"name": "A", "email": format!("a{n}@example.com"), "password": "correct horse"});
        let app = &app;
        async move { app.post_json("/users", &body).await }
    };

    let first = register(1).await;
    register(2).await;
    register(3).await;
    let fourth = register(4).await;

    assert_eq!(first.status, 201);
    assert_eq!(
        first.header("ratelimit-policy"),
        Some("\"register-ip\";q=3;w=3600")
    );
    assert!(
        first
            .header("ratelimit")
            .is_some_and(|v| v.starts_with("\"register-ip\";r=2;t="))
    );
    fourth.assert_problem(429, "rate-limited");
    let retry: i64 = fourth
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry), "{retry}");
    assert!(
        fourth
            .header("ratelimit")
            .is_some_and(|v| v.contains(";r=0;"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_wrong_passwords_never_get_more_than_the_limit_through() {
    let app = Arc::new(
        TestApp::spin_users()
            .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_ACCOUNT", "5/900")
            .start()
            .await,
    );
    app.register("Ada", "ada@example.com", "correct horse")
        .await;

    let statuses = concurrently(&app, 20, |app, _| async move {
        app.login("ada@example.com", "wrong horse").await.status
    })
    .await;

    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        15,
        "{statuses:?}"
    );
    let locked = app.login("ada@example.com", "correct horse").await;
    locked.assert_problem(429, "rate-limited");
    let lockouts = app
        .query_db("SELECT count(*) FROM audit_log WHERE event = 'locked_out'")
        .await;
    assert_eq!(lockouts, vec![vec![Some("1".to_string())]], "audited once");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_emails_lock_out_exactly_like_real_accounts() {
    let app = ada_with_account_limit("2/900").await;

    let mut real = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..3 {
        real.push(app.login("ada@example.com", "wrong horse").await);
        unknown.push(app.login("nobody@example.com", "wrong horse").await);
    }

    let statuses = |r: &[spin_users_component_tests::TestResponse]| {
        r.iter().map(|r| r.status).collect::<Vec<_>>()
    };
    assert_eq!(statuses(&real), vec![400, 400, 429]);
    assert_eq!(statuses(&unknown), statuses(&real));
    assert_eq!(real[2].json()["code"], unknown[2].json()["code"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_successful_login_ends_the_failure_streak() {
    let app = ada_with_account_limit("3/900").await;

    app.login("ada@example.com", "wrong horse").await;
    app.login("ada@example.com", "wrong horse").await;
    assert_eq!(
        app.login("ada@example.com", "correct horse").await.status,
        200
    );
    let after = [
        app.login("ada@example.com", "wrong horse").await.status,
        app.login("ada@example.com", "wrong horse").await.status,
    ];

    assert_eq!(after, [400, 400]);
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_are_limited_per_client_address_across_accounts() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_IP", "3/60")
        .start()
        .await;

    let mut statuses = Vec::new();
    for n in 0..4 {
        statuses.push(
            app.login(&format!("user{n}@example.com"), "whatever pass")
                .await
                .status,
        );
    }

    assert_eq!(statuses, vec![400, 400, 400, 429]);
}

/// An address that is not the tests' usual one.
fn attacker() -> IpAddr {
    IpAddr::from([127, 0, 0, 66])
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attacker_address_locks_itself_out_not_the_owner() {
    let app = ada_with_account_limit("3/900").await;

    let mut hammer = Vec::new();
    for _ in 0..6 {
        hammer.push(
            app.login_from(attacker(), "ada@example.com", "wrong horse")
                .await
                .status,
        );
    }
    let owner = app.login("ada@example.com", "correct horse").await;
    let attacker_with_the_password = app
        .login_from(attacker(), "ada@example.com", "correct horse")
        .await;

    assert_eq!(hammer, vec![400, 400, 400, 429, 429, 429]);
    assert_eq!(owner.status, 200, "{}", owner.text());
    attacker_with_the_password.assert_problem(429, "rate-limited");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_wide_ceiling_holds_across_addresses() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_ACCOUNT", "2/900")
        .env("SPIN_VARIABLE_LOGIN_CEILING_PER_ACCOUNT", "5/900")
        .start()
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;

    let mut statuses = Vec::new();
    for n in 1..=4u8 {
        for _ in 0..2 {
            let from = IpAddr::from([127, 0, 1, n]);
            statuses.push(
                app.login_from(from, "ada@example.com", "wrong horse")
                    .await
                    .status,
            );
        }
    }

    assert_eq!(statuses, vec![400, 400, 400, 400, 400, 429, 429, 429]);
}

#[tokio::test(flavor = "multi_thread")]
async fn current_password_guesses_count_as_login_attempts() {
    let app = ada_with_account_limit("3/900").await;
    let token = app.access_token("ada@example.com", "correct horse").await;

    let mut guesses = Vec::new();
    for n in 0..3 {
        let guess = json!({"password": "a new password", "current_password": format!("guess {n}")});
        guesses.push(
            app.send_json(Method::PATCH, "/users/me", &token, &guess)
                .await
                .status,
        );
    }
    let deletion = app
        .send_json(
            Method::DELETE,
            "/users/me",
            &token,
            &json!({"current_password": "guess 4"}),
        )
        .await;
    let right_but_locked = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &token,
            &json!({"password": "a new password", "current_password": "correct horse"}),
        )
        .await;
    let login = app.login("ada@example.com", "correct horse").await;

    assert_eq!(guesses, vec![422, 422, 422]);
    deletion.assert_problem(429, "rate-limited");
    right_but_locked.assert_problem(429, "rate-limited");
    login.assert_problem(429, "rate-limited");
    let elsewhere = app
        .login_from(attacker(), "ada@example.com", "correct horse")
        .await;
    assert_eq!(elsewhere.status, 200, "another address is not locked");
}

/// A login with an `X-Forwarded-For` header.
async fn login_forwarded_for(app: &TestApp, forwarded: &str) -> u16 {
    app.request(
        Method::POST,
        "/token",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-forwarded-for", forwarded),
        ],
        "grant_type=password&username=nobody%40example.com&password=whatever+pass",
    )
    .await
    .status
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_IP", "2/60")
        .start()
        .await;

    let mut statuses = Vec::new();
    for n in 1..=3 {
        statuses.push(login_forwarded_for(&app, &format!("198.51.100.{n}")).await);
    }

    assert_eq!(
        statuses,
        vec![400, 400, 429],
        "one client, whatever it claims"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_IP", "2/60")
        .env("SPIN_VARIABLE_TRUSTED_PROXIES", "127.0.0.0/8, 10.0.0.0/8")
        .start()
        .await;

    // The client prepends whatever it likes; the proxies append the truth.
    let a = [
        login_forwarded_for(&app, "6.6.6.1, 198.51.100.1, 10.0.0.7").await,
        login_forwarded_for(&app, "6.6.6.2, 198.51.100.1").await,
        login_forwarded_for(&app, "198.51.100.1").await,
    ];
    let b = login_forwarded_for(&app, "198.51.100.2").await;
    // IPv6 clients of one /64 are one client.
    let v6 = [
        login_forwarded_for(&app, "2001:db8:0:1::a").await,
        login_forwarded_for(&app, "2001:db8:0:1::b").await,
        login_forwarded_for(&app, "2001:db8:0:1:ffff::c").await,
    ];
    let other_64 = login_forwarded_for(&app, "2001:db8:0:2::a").await;

    assert_eq!(a, [400, 400, 429]);
    assert_eq!(b, 400, "another client has its own budget");
    assert_eq!(v6, [400, 400, 429]);
    assert_eq!(other_64, 400);
    let audited = app
        .query_db("SELECT DISTINCT client_ip FROM audit_log WHERE client_ip LIKE '198.51.100.%' ORDER BY client_ip")
        .await;
    assert_eq!(
        audited,
        vec![
            vec![Some("198.51.100.1".to_string())],
            vec![Some("198.51.100.2".to_string())]
        ],
        "the audit log records the client, not the proxy"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_of_a_limited_route_carries_the_ratelimit_headers() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_IP", "50/60")
        .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_ACCOUNT", "10/900")
        .env("SPIN_VARIABLE_LOGIN_CEILING_PER_ACCOUNT", "100/900")
        .env("SPIN_VARIABLE_REGISTER_LIMIT_PER_IP", "20/3600")
        .start()
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let invalid_registration = app
        .post_json(
            "/users",
            &json!({"name": "", "email": "x", "password": "y"}),
        )
        .await;
    let ok_login = app.login("ada@example.com", "correct horse").await;
    let bad_login = app.login("ada@example.com", "wrong horse").await;
    let token = ok_login.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let wrong_current = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &token,
            &json!({"password": "brand new pass", "current_password": "nope nope"}),
        )
        .await;
    let right_current = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &token,
            &json!({"password": "brand new pass", "current_password": "correct horse"}),
        )
        .await;

    assert_eq!(invalid_registration.status, 422);
    assert!(
        invalid_registration
            .header("ratelimit")
            .is_some_and(|v| v.starts_with("\"register-ip\";r=18;")),
        "{:?}",
        invalid_registration.header("ratelimit")
    );
    for (what, resp, status) in [
        ("login", &ok_login, 200),
        ("failed login", &bad_login, 400),
        ("wrong current_password", &wrong_current, 422),
        ("right current_password", &right_current, 200),
    ] {
        assert_eq!(resp.status, status, "{what}: {}", resp.text());
        assert_eq!(
            resp.header("ratelimit-policy"),
            Some(
                "\"login-ip\";q=50;w=60, \"login-account\";q=10;w=900, \"login-account-total\";q=100;w=900"
            ),
            "{what}"
        );
        assert!(resp.header("ratelimit").is_some(), "{what}");
    }
    assert!(
        bad_login
            .header("ratelimit")
            .is_some_and(|v| v.contains("\"login-account\";r=9;")),
        "{:?}",
        bad_login.header("ratelimit")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clock_boundary_lets_no_second_burst_through() {
    // 3 per 2 s: a fixed window aligned to the clock would take 3 just
    // before an even second and 3 more just after it.
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_REGISTER_LIMIT_PER_IP", "3/2")
        .start()
        .await;
    let burst = async || {
        let mut allowed = 0;
        for _ in 0..3 {
            // Invalid, so nothing is stored, but counted all the same.
            if app.post_json("/users", &json!({})).await.status != 429 {
                allowed += 1;
            }
        }
        allowed
    };
    let millis = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis()
    };
    while millis() % 2000 < 1_650 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let before = burst().await;
    while millis() % 2000 >= 1_000 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let after = burst().await;

    assert_eq!(before, 3);
    // One frees up every 667 ms; the second burst comes well inside that
    // (a slow machine may see one).
    assert!(after <= 1, "{after} of 3 passed just after the boundary");
}

#[tokio::test(flavor = "multi_thread")]
async fn correct_passwords_do_not_use_up_the_account_ceiling() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_LOGIN_CEILING_PER_ACCOUNT", "3/900")
        .start()
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;

    let mut statuses = Vec::new();
    for n in 1..=5u8 {
        let from = IpAddr::from([127, 0, 2, n]);
        let login = app
            .login_from(from, "ada@example.com", "correct horse")
            .await;
        statuses.push(login.status);
        if n == 5 {
            let header = login.header("ratelimit").expect("RateLimit").to_owned();
            assert!(
                header.contains("\"login-account-total\";r=3;"),
                "the success gave its hit back: {header}"
            );
        }
    }
    let wrong = app.login("ada@example.com", "wrong horse").await;

    assert_eq!(statuses, vec![200; 5]);
    assert_eq!(wrong.status, 400);
    assert!(
        wrong
            .header("ratelimit")
            .is_some_and(|v| v.contains("\"login-account-total\";r=2;")),
        "failures still count"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotent_replay_is_not_charged_to_the_registration_limit() {
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_REGISTER_LIMIT_PER_IP", "2/3600")
        .start()
        .await;
    let body = json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse"});
    let with_key = async || {
        app.request(
            Method::POST,
            "/users",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "sign-up-1"),
            ],
            bytes::Bytes::from(body.to_string()),
        )
        .await
    };
    let first = with_key().await;
    let mut replays = Vec::new();
    for _ in 0..3 {
        let replay = with_key().await;
        replays.push((
            replay.status,
            replay.header("idempotent-replayed").map(str::to_owned),
        ));
    }
    let other = |n: u32| json!({"name": "B", "email": format!("b{n}@example.com"), "password": "correct horse"});
    let second = app.post_json("/users", &other(1)).await;
    let third = app.post_json("/users", &other(2)).await;

    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(replays, vec![(201, Some("true".to_owned())); 3]);
    assert_eq!(
        second.status,
        201,
        "the replays were not counted: {}",
        second.text()
    );
    third.assert_problem(429, "rate-limited");
}
