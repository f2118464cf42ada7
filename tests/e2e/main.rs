//! End-to-end: the same `spin.toml` and `.wasm` files under the real Spin
//! CLI. Needs `spin` on PATH, so it is `#[ignore]`d: `make test` runs it
//! with `--include-ignored` when `spin` is installed and otherwise reports
//! it as skipped. Run by hand: `cargo test --test e2e -- --include-ignored`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use spin_users_component_tests::workspace_root;

struct SpinUp(Child);

impl Drop for SpinUp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, path: &str) -> std::io::Result<String> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    conn.read_to_string(&mut raw)?;
    Ok(raw)
}

#[test]
#[ignore = "needs the spin CLI on PATH; make test runs it when spin is installed"]
fn health_routes_answer_under_spin_up() {
    // The same runtime config as runtime-config.toml, with the files moved
    // into a private directory so the test leaves the checkout alone.
    let state = tempfile::tempdir().expect("tempdir");
    let config = std::fs::read_to_string(workspace_root().join("runtime-config.toml"))
        .expect("read runtime-config.toml")
        .replace(".spin/", &format!("{}/", state.path().display()));
    let config_path = state.path().join("runtime-config.toml");
    std::fs::write(&config_path, config).expect("write runtime config");
    let addr = "127.0.0.1:3917";
    let child = Command::new("spin")
        .current_dir(workspace_root())
        .args(["up", "--listen", addr, "--runtime-config-file"])
        .arg(&config_path)
        .env(
            "SPIN_VARIABLE_SIGNING_KEY",
            spin_users_component_tests::TEST_SIGNING_KEY,
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("`spin` must be on PATH for this test");
    let _guard = SpinUp(child);

    let deadline = Instant::now() + Duration::from_secs(60);
    let healthz = loop {
        match get(addr, "/healthz") {
            Ok(raw) => break raw,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => panic!("spin up did not answer within 60 s: {e}"),
        }
    };

    assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz}");
    assert!(healthz.contains("\"status\":\"ok\""), "{healthz}");
    let readyz = get(addr, "/readyz").expect("readyz");
    assert!(readyz.starts_with("HTTP/1.1 200"), "{readyz}");
    let unknown = get(addr, "/no/such/route").expect("404");
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
}
