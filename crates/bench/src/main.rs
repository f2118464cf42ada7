//! `make bench`: one run, one server, comparable figures.
//!
//! Serves the app (the repository's `spin.toml`, production argon2id
//! parameters) through the wasmtime host on a loopback port, then drives it
//! with keep-alive HTTP/1.1 connections and prints requests/s and p50/p99
//! per route, each as a ratio of the trivial route (`GET /healthz`, the
//! floor the runtime itself costs). Also times argon2id natively and a
//! login (one verification inside a component) at one connection.
//!
//! `BENCH_SECS` (default 10) and `BENCH_CONNECTIONS` (default 32) tune it.
//! Client and server share this machine's cores, as a real load test on
//! one box does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use spin_users_domain::{OWASP_PARAMS, Password, PasswordHasher, SystemRandom};
use spin_users_host::{App, AppOptions, engine, serve};

const SIGNING_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// One request shape.
#[derive(Clone)]
struct Shape {
    method: http::Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

impl Shape {
    fn get(path: &str, token: Option<&str>) -> Self {
        Self {
            method: http::Method::GET,
            path: path.to_owned(),
            headers: token
                .map(|t| vec![("authorization", format!("Bearer {t}"))])
                .unwrap_or_default(),
            body: Bytes::new(),
        }
    }

    fn post(path: &str, content_type: &str, body: String) -> Self {
        Self {
            method: http::Method::POST,
            path: path.to_owned(),
            headers: vec![("content-type", content_type.to_owned())],
            body: Bytes::from(body),
        }
    }
}

struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self { sender })
    }

    async fn send(&mut self, shape: &Shape) -> Result<(u16, Bytes)> {
        let mut req = http::Request::builder()
            .method(shape.method.clone())
            .uri(&shape.path)
            .header("host", "127.0.0.1");
        for (name, value) in &shape.headers {
            req = req.header(*name, value);
        }
        let req = req.body(Full::new(shape.body.clone()))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

struct Stats {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index]
    }
}

/// Drives `shape` over `connections` keep-alive connections for `duration`.
async fn load(
    addr: SocketAddr,
    shape: &Shape,
    connections: usize,
    duration: Duration,
) -> Result<Stats> {
    let shape = Arc::new(shape.clone());
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let shape = shape.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let (status, body) = conn.send(&shape).await?;
                if !(200..300).contains(&status) {
                    bail!(
                        "{} {} answered {status}: {}",
                        shape.method,
                        shape.path,
                        String::from_utf8_lossy(&body)
                    );
                }
                latencies.push(sent.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    Ok(Stats {
        requests: latencies.len(),
        elapsed,
        latencies,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn start_server(data: &tempfile::TempDir) -> Result<SocketAddr> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = data.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        "[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n\
         [sqlite_database.default]\ntype = \"spin\"\npath = \"sqlite.db\"\n",
    )?;
    let mut options = AppOptions::new(root.join("spin.toml"));
    options.runtime_config = Some(config);
    options.compile_cache = Some(root.join("target/component-cache"));
    for (name, value) in [
        ("SPIN_VARIABLE_SIGNING_KEY", SIGNING_KEY),
        // The load comes from one address: limits out of the way.
        ("SPIN_VARIABLE_LOGIN_LIMIT_PER_IP", "100000000/60"),
        ("SPIN_VARIABLE_LOGIN_LIMIT_PER_ACCOUNT", "100000000/60"),
        ("SPIN_VARIABLE_REGISTER_LIMIT_PER_IP", "100000000/60"),
    ] {
        options.environment.insert(name.into(), value.into());
    }
    let engine = engine(1_000)?;
    let app =
        Arc::new(App::load(&engine, &options).context("loading the app (run `make build` first)")?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(app, listener, std::future::pending()));
    Ok(addr)
}

fn native_argon2_ms(samples: usize) -> Result<f64> {
    let hasher = PasswordHasher::new(OWASP_PARAMS)?;
    let password = Password::new("correct horse battery".into());
    let stored = hasher.hash(&password, &mut SystemRandom)?;
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            let ok = hasher.verify(&password, &stored).map(|v| v.matches);
            std::hint::black_box(ok.ok());
            ms(start.elapsed())
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

#[tokio::main]
async fn main() -> Result<()> {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let connections: usize = std::env::var("BENCH_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let duration = Duration::from_secs(secs);
    let data = tempfile::tempdir()?;
    let addr = start_server(&data).await?;

    // Arrange: one account, a token, its id, a warm cache.
    let mut setup = Connection::open(addr).await?;
    let register = Shape::post(
        "/users",
        "application/json",
        r#"{"name":"Bench","email":"bench@example.com","password":"correct horse battery"}"#.into(),
    );
    let (status, body) = setup.send(&register).await?;
    if status != 201 {
        bail!(
            "registration failed: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    // The cached lookup reads another user, as a client looking someone up does.
    let other = Shape::post(
        "/users",
        "application/json",
        r#"{"name":"Other","email":"other@example.com","password":"correct horse battery"}"#.into(),
    );
    let (_, body) = setup.send(&other).await?;
    let id = serde_json::from_slice::<serde_json::Value>(&body)?["id"]
        .as_str()
        .context("id")?
        .to_owned();
    let login = Shape::post(
        "/token",
        "application/x-www-form-urlencoded",
        "grant_type=password&username=bench%40example.com&password=correct+horse+battery".into(),
    );
    let (_, body) = setup.send(&login).await?;
    let token = serde_json::from_slice::<serde_json::Value>(&body)?["access_token"]
        .as_str()
        .context("access_token")?
        .to_owned();
    let by_id = Shape::get(&format!("/users/{id}"), Some(&token));
    setup.send(&by_id).await?;

    println!(
        "spin-users bench: {connections} connections, {secs} s per route, server and client on this machine"
    );
    println!(
        "{:<34} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "route", "req/s", "p50 ms", "p99 ms", "vs floor", "p99 ratio", "target"
    );
    let floor = load(addr, &Shape::get("/healthz", None), connections, duration).await?;
    let rows = [(
        "GET /healthz (floor)",
        floor.rps(),
        floor.percentile(0.5),
        floor.percentile(0.99),
        "",
    )];
    for (name, rps, p50, p99, _) in rows {
        println!(
            "{name:<34} {rps:>10.0} {:>9.2} {:>9.2} {:>9} {:>10} {:>10}",
            ms(p50),
            ms(p99),
            "1.00",
            "1.00",
            ""
        );
    }
    let scenarios = [
        (
            "GET /users/me (valid token)",
            Shape::get("/users/me", Some(&token)),
            0.60,
        ),
        ("GET /users/:id (another, cached)", by_id.clone(), 0.70),
    ];
    for (name, shape, target) in scenarios {
        let stats = load(addr, &shape, connections, duration).await?;
        let ratio = stats.rps() / floor.rps();
        let p99_ratio = ms(stats.percentile(0.99)) / ms(floor.percentile(0.99));
        let verdict = if ratio >= target && p99_ratio <= 2.0 {
            "met"
        } else {
            "MISSED"
        };
        println!(
            "{name:<34} {:>10.0} {:>9.2} {:>9.2} {ratio:>9.2} {p99_ratio:>10.2} {:>10}",
            stats.rps(),
            ms(stats.percentile(0.5)),
            ms(stats.percentile(0.99)),
            format!("{verdict} ({target:.2}, 2x)")
        );
    }
    let logins = load(addr, &login, connections, duration).await?;
    println!(
        "{:<34} {:>10.1} {:>9.2} {:>9.2} {:>9.3} {:>10.2} {:>10}",
        "POST /token (password grant)",
        logins.rps(),
        ms(logins.percentile(0.5)),
        ms(logins.percentile(0.99)),
        logins.rps() / floor.rps(),
        ms(logins.percentile(0.99)) / ms(floor.percentile(0.99)),
        ""
    );

    // argon2id: natively, and one login at a time (one verification in a component).
    let native = native_argon2_ms(9)?;
    let single = load(addr, &login, 1, Duration::from_secs(secs.min(5))).await?;
    let in_component = ms(single.percentile(0.5));
    let ratio = in_component / native;
    println!();
    println!(
        "argon2id m={} KiB t={} p={}: native verify p50 {native:.1} ms; login at 1 connection p50 {in_component:.1} ms \
         (one verify + token issue in a component) = {ratio:.2}x native, target <= 2x: {}",
        OWASP_PARAMS.memory_kib,
        OWASP_PARAMS.iterations,
        OWASP_PARAMS.parallelism,
        if ratio <= 2.0 { "met" } else { "MISSED" }
    );
    Ok(())
}
