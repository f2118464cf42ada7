//! End-to-end: the same `spin.toml` and `.wasm` files under the real Spin
//! CLI. Needs `spin` on PATH, so it is `#[ignore]`d: `make test` runs it
//! with `--include-ignored` when `spin` is installed and otherwise reports
//! it as skipped. Run by hand: `cargo test --test e2e -- --include-ignored`.
//!
//! `spin up` runs the app in a `spin trigger http` child process; the
//! harness starts it in its own process group and kills the whole group,
//! so nothing outlives the test (a leftover child would hold `make test`'s
//! output pipe open for ever).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bytes::Bytes;
use http::Method;
use spin_users_component_tests::{ServerProcess, TEST_SIGNING_KEY, workspace_root};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the spin CLI on PATH; make test runs it when spin is installed"]
async fn health_routes_answer_under_spin_up() {
    // The same runtime config as runtime-config.toml, with the files moved
    // into a private directory so the test leaves the checkout alone.
    let state = tempfile::tempdir().expect("tempdir");
    let config = std::fs::read_to_string(workspace_root().join("runtime-config.toml"))
        .expect("read runtime-config.toml")
        .replace(".spin/", &format!("{}/", state.path().display()));
    let config_path = state.path().join("runtime-config.toml");
    std::fs::write(&config_path, config).expect("write runtime config");
    let environment = HashMap::from([(
        "SPIN_VARIABLE_SIGNING_KEY".to_owned(),
        TEST_SIGNING_KEY.to_owned(),
    )]);
    let spin = ServerProcess::start(
        "spin",
        &workspace_root().join("spin.toml"),
        &config_path,
        state.path(),
        &environment,
        &[],
    )
    .await
    .expect("spin up serves the app");

    for (path, status, needle) in [
        ("/healthz", 200, "\"status\":\"ok\""),
        ("/readyz", 200, "\"status\":\"ready\""),
        ("/no/such/route", 404, ""),
    ] {
        let (got, headers, body) = spin
            .send(
                Ipv4Addr::LOCALHOST.into(),
                Method::GET,
                path,
                &[],
                Bytes::new(),
            )
            .await
            .expect("request");
        let body = String::from_utf8_lossy(&body);
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(needle), "{path}: {body}");
        if status == 200 {
            assert!(
                headers.contains_key("content-length"),
                "{path}: {headers:?}"
            );
        }
    }
}
