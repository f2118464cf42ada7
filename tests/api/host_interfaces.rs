//! The Spin interfaces the host implements, checked through the probe
//! component: key-value, SQLite, variables, outbound HTTP, access control,
//! and per-request instances.

use http::Method;
use spin_users_component_tests::{TestApp, start_error};

#[tokio::test(flavor = "multi_thread")]
async fn key_value_writes_persist_across_requests_and_instances() {
    let app = TestApp::probe().start().await;

    let put = app
        .request(Method::PUT, "/kv/default/colour", &[], "teal")
        .await;
    let get = app.get("/kv/default/colour").await;

    assert_eq!(put.status, 204, "{}", put.text());
    assert_eq!((get.status, get.text().as_str()), (200, "teal"));
    assert_eq!(app.get("/kv/default/other").await.status, 404, "absent key");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_data_lives_in_spins_table_layout() {
    let app = TestApp::probe().start().await;
    app.request(Method::PUT, "/kv/default/k", &[], "v").await;

    let db = rusqlite_free_read(&app.dir.path().join("kv.db"));

    assert!(db.contains("spin_key_value"), "Spin's table name is used");
}

/// Reads the raw file so the test needs no SQLite dependency of its own:
/// table names are stored as plain text in the schema page.
fn rusqlite_free_read(path: &std::path::Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).expect("kv file exists")).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn opening_an_undeclared_key_value_store_is_access_denied() {
    let app = TestApp::probe()
        .runtime_config(
            "[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n\
             [key_value_store.secrets]\ntype = \"spin\"\npath = \"secrets.db\"\n",
        )
        .start()
        .await;

    // `secrets` exists in the runtime config, but the probe did not declare it.
    let resp = app.get("/kv/secrets/anything").await;
    let unknown = app.get("/kv/nonexistent/anything").await;

    assert_eq!(resp.text(), "access-denied");
    assert_eq!(
        unknown.text(),
        "access-denied",
        "unknown labels look the same"
    );
    assert!(
        !app.dir.path().join("secrets.db").exists(),
        "nothing was opened"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_declaring_an_undefined_store_label_fails_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = std::fs::read_to_string(
        spin_users_component_tests::workspace_root().join("tests/fixtures/probe/spin.toml"),
    )
    .expect("read probe manifest")
    .replace(
        "key_value_stores = [\"default\"]",
        "key_value_stores = [\"default\", \"cache\"]",
    )
    .replace(
        "../../../target",
        &format!(
            "{}/target",
            spin_users_component_tests::workspace_root().display()
        ),
    );
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, manifest).expect("write manifest");

    let err = start_error(TestApp::probe().manifest(&path)).await;

    assert!(err.contains("\"cache\""), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_statements_run_against_a_real_database_file() {
    let app = TestApp::probe().start().await;

    let first = app.get("/sqlite/default").await;
    let second = app.get("/sqlite/default").await;

    assert_eq!((first.status, first.text().as_str()), (200, "1"));
    assert_eq!(
        (second.status, second.text().as_str()),
        (200, "2"),
        "rows persist"
    );
    assert!(app.dir.path().join("sqlite.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn opening_an_undeclared_sqlite_database_is_access_denied() {
    let app = TestApp::probe()
        .runtime_config(
            "[sqlite_database.default]\ntype = \"spin\"\npath = \"sqlite.db\"\n\
             [sqlite_database.audit]\ntype = \"spin\"\npath = \"audit.db\"\n",
        )
        .start()
        .await;

    let resp = app.get("/sqlite/audit").await;

    assert_eq!(resp.text(), "access-denied");
    assert!(!app.dir.path().join("audit.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_resolve_from_templates_defaults_and_the_environment() {
    let app = TestApp::probe()
        .env("SPIN_VARIABLE_GREETING", "hi")
        .start()
        .await;

    assert_eq!(app.get("/var/message").await.text(), "hi, world");
    assert_eq!(app.get("/var/key").await.text(), "test-key");
}

#[tokio::test(flavor = "multi_thread")]
async fn variable_defaults_apply_when_the_environment_is_silent() {
    let app = TestApp::probe().start().await;

    assert_eq!(app.get("/var/message").await.text(), "hello, world");
}

/// Writes `text` to `dir/name` and returns the path as text.
fn write_file(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write variable file");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_key_value_store_keeps_one_connection_for_every_instance() {
    // Spin 4.0.2 opens the embedded store's SQLite file once, on first
    // use, and every instance shares that connection
    // (`crates/key-value-spin/src/store.rs`): with the file unlinked, the
    // data stays readable through it. An open per request would find a
    // new, empty file instead.
    let app = TestApp::probe().start().await;
    let put = app
        .request(Method::PUT, "/kv/default/colour", &[], "teal")
        .await;
    assert_eq!(put.status, 204, "{}", put.text());
    for entry in std::fs::read_dir(app.dir.path()).expect("read the test directory") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("kv.db") {
            std::fs::remove_file(&path).expect("unlink the store's file");
        }
    }

    let get = app.get("/kv/default/colour").await;

    assert_eq!((get.status, get.text().as_str()), (200, "teal"));
    assert!(
        !app.dir.path().join("kv.db").exists(),
        "no second file was opened"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_form_of_dash_dash_variable_wins_over_the_environment() {
    // `spin up --variable` takes key=value, key=@file (the whole text),
    // @file.toml and @file.json; each is a static provider asked before
    // the environment.
    let files = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("greeting=literal".to_owned(), "literal, world"),
        (
            format!(
                "greeting=@{}",
                write_file(files.path(), "greeting.txt", "from-file")
            ),
            "from-file, world",
        ),
        (
            format!(
                "@{}",
                write_file(files.path(), "vars.toml", "greeting = \"toml\"\n")
            ),
            "toml, world",
        ),
        (
            format!(
                "@{}",
                write_file(files.path(), "vars.json", r#"{"greeting": "json"}"#)
            ),
            "json, world",
        ),
    ];
    for (source, expected) in cases {
        let app = TestApp::probe()
            .env("SPIN_VARIABLE_GREETING", "from-environment")
            .variable(&source)
            .start()
            .await;

        assert_eq!(app.get("/var/message").await.text(), expected, "{source}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn later_variable_sources_replace_earlier_ones_and_serve_required_variables() {
    let app = TestApp::probe()
        .without_env("SPIN_VARIABLE_API_KEY")
        .variable("greeting=first")
        .variable("greeting=second")
        .variable("api_key=from-flag")
        .start()
        .await;

    assert_eq!(app.get("/var/message").await.text(), "second, world");
    assert_eq!(app.get("/var/key").await.text(), "from-flag");
}

#[tokio::test(flavor = "multi_thread")]
async fn runtime_config_providers_come_after_the_flag_and_before_the_environment() {
    // Order: --variable, then [[variables_provider]] in file order, then
    // the environment provider Spin always appends.
    let app = TestApp::probe()
        .runtime_config(&format!(
            "{}\n[[variables_provider]]\ntype = \"static\"\n\
             values = {{ greeting = \"first-static\", api_key = \"static-key\" }}\n\
             [[variables_provider]]\ntype = \"static\"\nvalues = {{ greeting = \"second-static\" }}\n",
            spin_users_component_tests::ISOLATED_RUNTIME_CONFIG
        ))
        .env("SPIN_VARIABLE_GREETING", "from-environment")
        .start()
        .await;
    let flagged = TestApp::probe()
        .runtime_config(&format!(
            "{}\n[[variables_provider]]\ntype = \"static\"\nvalues = {{ greeting = \"static\" }}\n",
            spin_users_component_tests::ISOLATED_RUNTIME_CONFIG
        ))
        .variable("greeting=flag")
        .start()
        .await;

    assert_eq!(app.get("/var/message").await.text(), "first-static, world");
    assert_eq!(
        app.get("/var/key").await.text(),
        "static-key",
        "the runtime config's provider answers before SPIN_VARIABLE_API_KEY"
    );
    assert_eq!(flagged.get("/var/message").await.text(), "flag, world");
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_undeclared_or_invalid_variables_fails_as_in_spin() {
    let app = TestApp::probe().start().await;

    // `greeting` is an application variable, but the component only declares
    // `message` and `key`.
    assert_eq!(app.get("/var/greeting").await.text(), "undefined");
    assert_eq!(app.get("/var/Bad-Name").await.text(), "invalid-name");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_required_variable_fails_start_up() {
    let err = start_error(TestApp::probe().without_env("SPIN_VARIABLE_API_KEY")).await;

    // Spin 4.0.2's words (`crates/expressions/src/lib.rs`).
    assert!(
        err.contains(r#"no provider resolved required variable(s): [Key("api_key")]"#),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_http_reaches_allowed_hosts_only() {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = upstream.local_addr().expect("addr").port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut conn, _)) = upstream.accept().await {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf).await;
            let _ = conn
                .write_all(
                    b"HTTP/1.1 418 I'm a teapot\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
        }
    });
    let app = TestApp::probe().start().await;

    let allowed = app
        .get(&format!("/outbound?url=http://127.0.0.1:{port}/x"))
        .await;
    let denied = app
        .get(&format!("/outbound?url=http://localhost:{port}/x"))
        .await;

    assert_eq!(allowed.text(), "upstream 418", "allowed host reached");
    assert_eq!(denied.status, 502);
    assert!(
        denied.text().to_lowercase().contains("denied"),
        "denied host refused by the host: {}",
        denied.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_gets_a_fresh_instance() {
    let app = TestApp::probe().start().await;

    for _ in 0..3 {
        // The probe counts requests in a static; a reused instance would say 2, 3, …
        assert_eq!(app.get("/instance").await.text(), "1");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trapping_component_gets_a_500_and_the_next_request_is_unaffected() {
    let app = TestApp::probe().start().await;

    let trapped = app.get("/trap").await;
    let after = app.get("/instance").await;

    assert_eq!(trapped.status, 500);
    assert!(
        !trapped.text().contains("probe asked"),
        "no panic text leaks"
    );
    assert_eq!((after.status, after.text().as_str()), (200, "1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instances_first_outbound_check_resolves_every_variable_through_the_providers() {
    // Spin 4.0.2 parses the allow-list on an instance's first outbound
    // check and resolves every application variable to do it; each
    // environment-provider lookup is a `block_in_place`. The probe's
    // `/pg/open` reads no variable itself, so what it pays is that.
    let manifest: toml::Table = toml::from_str(
        &std::fs::read_to_string(
            spin_users_component_tests::workspace_root().join("tests/fixtures/probe/spin.toml"),
        )
        .expect("read the probe manifest"),
    )
    .expect("parse the probe manifest");
    let declared = manifest["variables"].as_table().expect("[variables]").len() as u64;
    let files = tempfile::tempdir().expect("tempdir");
    let every_variable = write_file(
        files.path(),
        "all.toml",
        "greeting = \"hello\"\napi_key = \"k\"\ndatabase_url = \"\"\n",
    );
    let from_environment = TestApp::probe().start().await;
    let from_flag = TestApp::probe()
        .without_env("SPIN_VARIABLE_API_KEY")
        .variable(&format!("@{every_variable}"))
        .start()
        .await;

    let mut paid = Vec::new();
    for app in [&from_environment, &from_flag] {
        let before = app.host().environment_lookups();
        // Port 1: the check passes (postgres://127.0.0.1:*), the connection is refused.
        let opened = app
            .request(
                Method::POST,
                "/pg/open",
                &[],
                "postgres://u@127.0.0.1:1/none",
            )
            .await;
        assert_eq!(opened.status, 500, "{}", opened.text());
        paid.push(app.host().environment_lookups() - before);
    }

    assert_eq!(
        paid,
        vec![declared, 0],
        "one lookup per declared variable from the environment, none from --variable @file.toml"
    );
}

/// The same cost when an instance's first outbound check is a socket
/// connect: Spin's address check for `wasi:sockets` goes through the same
/// allow-list (`crates/factor-outbound-networking/src/lib.rs`), so a cached
/// read whose only outbound call is the cache's Redis connection pays it.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_outbound_socket_connect_resolves_every_variable_too() {
    let redis = spin_users_component_tests::redis_url()
        .expect("SPIN_USERS_TEST_REDIS_URL is not set: run these tests through `make test`");
    let manifest: toml::Table = toml::from_str(
        &std::fs::read_to_string(spin_users_component_tests::workspace_root().join("spin.toml"))
            .expect("read spin.toml"),
    )
    .expect("parse spin.toml");
    let declared = manifest["variables"].as_table().expect("[variables]").len() as u64;
    // The embedded database: the cache's connection is the only outbound call.
    let app = TestApp::spin_users()
        .env("SPIN_VARIABLE_DATABASE_URL", "")
        .cache_on_redis(&redis)
        .start()
        .await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let token = app.access_token("ada@example.com", "correct horse").await;
    assert_eq!(app.get_with_token("/users/me", &token).await.status, 200);

    let before = app.host().environment_lookups();
    let cached = app.get_with_token("/users/me", &token).await;
    let paid = app.host().environment_lookups() - before;

    assert_eq!(cached.status, 200, "{}", cached.text());
    assert!(
        paid >= declared,
        "{paid} environment lookups: the first check should resolve all {declared} variables"
    );
}
