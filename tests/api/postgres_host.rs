//! PostgreSQL as Spin 4.0.2 serves it, and the service under its faults:
//! pooled connections handed back mid-transaction, TLS unless
//! `sslmode=disable`, and queries that return no rows (which Spin 4.0.0–
//! 4.0.2 never answers; the host fails them loudly instead). These need
//! the PostgreSQL backend: `make test` runs them in the PostgreSQL pass and
//! skips the module in the SQLite pass.

use http::Method;
use serde_json::json;
use spin_users_component_tests::{Backend, TestApp, backend};

fn require_postgres() {
    assert_eq!(
        backend(),
        Backend::Postgres,
        "these tests need SPIN_USERS_TEST_BACKEND=postgres (make test-components runs them)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_dies_mid_transaction_does_not_poison_the_next_one() {
    require_postgres();
    // Arrange: a fresh database; the probe begins a transaction on a pooled
    // connection, takes the service's migration lock, writes, and traps.
    // Spin keeps one pool per component, so that connection goes back to
    // the probe's pool, still inside its transaction.
    let app = TestApp::spin_users_with_probe().start().await;
    let abandoned = app.request(Method::POST, "/pg/abandon", &[], "").await;
    assert_eq!(
        abandoned.status,
        500,
        "the probe traps: {}",
        abandoned.text()
    );

    // Act: the probe's next request opens through the service's store,
    // gets that pooled connection (the only one, or a fresh one if the
    // pool dropped it), and must not run inside the old transaction; then
    // the service's own components register and log in.
    let guarded = app.request(Method::POST, "/pg/guarded", &[], "").await;
    let registered = app
        .post_json(
            "/users",
            &serde_json::json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse"}),
        )
        .await;
    let login = app.login("ada@example.com", "correct horse").await;

    // Assert: the abandoned transaction is rolled back (its table gone, its
    // lock released, so the service's migration ran), and the service's
    // writes are committed (seen from another connection).
    assert_eq!(
        (guarded.status, guarded.text().as_str()),
        (200, "None"),
        "the next request on the connection ran outside the abandoned transaction"
    );
    assert_eq!(registered.status, 201, "{}", registered.text());
    assert_eq!(login.status, 200, "{}", login.text());
    let users = app
        .query_db("SELECT email FROM users WHERE email = 'ada@example.com'")
        .await;
    assert_eq!(users.len(), 1, "the registration is committed");
    let leftover = app
        .query_db("SELECT to_regclass('abandoned_by_probe')::text")
        .await;
    assert_eq!(leftover, vec![vec![None]], "the abandoned write is gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_fails_a_zero_row_query_and_names_the_statement() {
    require_postgres();
    let app = TestApp::spin_users_with_probe().start().await;

    let empty = app
        .request(Method::POST, "/pg/query", &[], "SELECT 1 WHERE 1 = 0")
        .await;
    let one = app
        .request(Method::POST, "/pg/query", &[], "SELECT 1 WHERE 1 = 1")
        .await;

    assert_eq!(empty.status, 500, "{}", empty.text());
    assert!(empty.text().contains("zero rows"), "{}", empty.text());
    assert!(
        empty.text().contains("SELECT 1 WHERE 1 = 0"),
        "the error names the statement: {}",
        empty.text()
    );
    assert_eq!((one.status, one.text().as_str()), (200, "rows: 1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_is_negotiated_and_verified_unless_the_url_disables_it() {
    require_postgres();
    let app = TestApp::spin_users_with_probe().start().await;
    let url = app.database_url.clone().expect("a PostgreSQL database");
    let without_sslmode = url.replace("?sslmode=disable", "");
    assert_ne!(url, without_sslmode, "the suite's URL disables TLS");
    let server_ssl = app.query_db("SHOW ssl").await;

    let plain = app.request(Method::POST, "/pg/open", &[], url).await;
    let negotiated = app
        .request(Method::POST, "/pg/open", &[], without_sslmode)
        .await;

    assert_eq!((plain.status, plain.text().as_str()), (200, "ok"));
    if server_ssl == vec![vec![Some("on".to_owned())]] {
        // Debian's cluster presents a self-signed certificate for
        // `localhost`: verification fails, as it does under Spin.
        assert_eq!(negotiated.status, 500, "{}", negotiated.text());
        assert!(
            negotiated.text().contains("certificate verify failed"),
            "{}",
            negotiated.text()
        );
    } else {
        // Without TLS on the server, `prefer` falls back to plain text.
        assert_eq!((negotiated.status, negotiated.text().as_str()), (200, "ok"));
    }
}

/// Runs `sql` on the server's administrative database (not the test's own,
/// which may be refusing connections).
async fn as_admin(sql: &str) {
    let admin = std::env::var("SPIN_USERS_TEST_PG_URL").expect("SPIN_USERS_TEST_PG_URL");
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connect as admin");
    tokio::spawn(connection);
    client.batch_execute(sql).await.expect("admin statement");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_out_of_connections_answers_503_with_retry_after_and_recovers() {
    require_postgres();
    // Arrange: an account with a session, then the database refuses every
    // new connection ("too many connections", SQLSTATE 53300) and the
    // pooled ones are cut, as when PostgreSQL runs out of slots.
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let login = app.login("ada@example.com", "correct horse").await.json();
    let access = login["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let refresh = login["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    let url = app.database_url.clone().expect("a PostgreSQL database");
    let database = url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .expect("database name")
        .to_owned();
    as_admin(&format!(
        "ALTER DATABASE {database} CONNECTION LIMIT 0;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = '{database}' AND usename = current_user;"
    ))
    .await;

    // Act: every route that needs the database.
    let answers = [
        (
            "register",
            app.post_json(
                "/users",
                &serde_json::json!({"name": "Bob", "email": "bob@example.com", "password": "correct horse"}),
            )
            .await,
        ),
        ("login", app.login("ada@example.com", "correct horse").await),
        ("refresh", app.refresh(&refresh).await),
        (
            "patch",
            app.send_json(
                Method::PATCH,
                "/users/me",
                &access,
                &serde_json::json!({"name": "Ada L."}),
            )
            .await,
        ),
        ("tasks", app.get_with_token("/tasks", &access).await),
        ("metrics", app.get("/metrics").await),
    ];
    let ready = app.get("/readyz").await;

    // Assert: 503 problem+json with Retry-After, never a 500 or a hang;
    // readiness says the database is down.
    for (what, resp) in &answers {
        assert_eq!(resp.status, 503, "{what}: {}", resp.text());
        resp.assert_problem(503, "unavailable");
        assert_eq!(resp.header("retry-after"), Some("2"), "{what}");
    }
    let body = ready.assert_problem(503, "not-ready");
    assert_eq!(body["checks"]["database"]["status"], "down");

    // Once connections are allowed again, the same instance serves at once.
    as_admin(&format!("ALTER DATABASE {database} CONNECTION LIMIT -1")).await;
    assert_eq!(app.get("/readyz").await.status, 200);
    assert_eq!(
        app.login("ada@example.com", "correct horse").await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_component_keeps_its_own_postgresql_pool() {
    require_postgres();
    // Spin 4.0.2 makes one client factory, so one set of pools, per
    // component: a connection one component returned is never handed to
    // another (an instance can hold 64 per component).
    let app = TestApp::spin_users_with_probe().start().await;
    let connections = || async {
        app.query_db(
            "SELECT state FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
    };
    let probe = app.request(Method::POST, "/pg/guarded", &[], "").await;
    assert_eq!(probe.status, 200, "{}", probe.text());
    // Wait until the probe's connection is back in its pool, idle.
    let mut after_probe = connections().await;
    for _ in 0..100 {
        if after_probe == vec![vec![Some("idle".to_owned())]] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        after_probe = connections().await;
    }
    assert_eq!(
        after_probe,
        vec![vec![Some("idle".to_owned())]],
        "the probe's one connection, idle in its pool"
    );

    // Another component's request: a shared pool would hand it that idle
    // connection; the health component's own pool opens a second.
    let ready = app.get("/readyz").await;

    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(
        connections().await.len(),
        2,
        "one connection per component's pool"
    );
}

/// An edit of an account that is no active administrator cannot remove the
/// last one, so it needs no other row and runs at PostgreSQL's default READ
/// COMMITTED. At SERIALIZABLE (where the last-admin guard runs) every such
/// edit read the table's admins, and concurrent edits of different accounts
/// failed serialization, three tries in a row often enough that the bench
/// got a `409` for an account only one client was editing.
#[tokio::test(flavor = "multi_thread")]
async fn edits_of_ordinary_accounts_run_at_read_committed_and_never_conflict() {
    require_postgres();
    // Arrange: accounts, and a trigger noting the isolation level of every
    // write to a user row.
    let app = std::sync::Arc::new(TestApp::spin_users().start().await);
    let mut tokens = Vec::new();
    for n in 0..8 {
        let email = format!("editor{n}@example.com");
        app.register("Editor", &email, "correct horse").await;
        tokens.push(app.access_token(&email, "correct horse").await);
    }
    app.query_db(
        "CREATE TABLE user_write_isolation (level text);
         CREATE FUNCTION note_user_write_isolation() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           INSERT INTO user_write_isolation VALUES (current_setting('transaction_isolation'));
           RETURN NULL;
         END $$;
         CREATE TRIGGER note_user_write_isolation AFTER UPDATE OR DELETE ON users
           FOR EACH ROW EXECUTE FUNCTION note_user_write_isolation();",
    )
    .await;

    // Act: every account edits itself, all at once, again and again; then
    // one deletes itself.
    let editors: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(n, token)| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for round in 0..10 {
                    let name = format!("Editor {n}.{round}");
                    let edited = app
                        .send_json(Method::PATCH, "/users/me", &token, &json!({ "name": name }))
                        .await;
                    statuses.push(edited.status);
                }
                statuses
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for editor in editors {
        statuses.extend(editor.await.expect("editor task"));
    }
    let deleted = app
        .send_json(
            Method::DELETE,
            "/users/me",
            &tokens[0],
            &json!({ "current_password": "correct horse" }),
        )
        .await;

    // Assert
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    let levels = app
        .query_db("SELECT DISTINCT level FROM user_write_isolation")
        .await;
    assert_eq!(levels, vec![vec![Some("read committed".to_owned())]]);
}
