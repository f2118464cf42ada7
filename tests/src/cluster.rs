//! Several instances of the app over one PostgreSQL database and one Redis,
//! on the production runtime config (`deploy/runtime-config.production.toml`),
//! each a server process of its own: what a load balancer sees in front of
//! SpinKube pods or edge nodes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::Method;

use crate::{ServerProcess, TestResponse, fresh_postgres_database, redis_url, workspace_root};

/// The Redis URL the production runtime config names; a test Redis
/// elsewhere is substituted into a copy.
const PRODUCTION_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The server program: `SPIN_USERS_TEST_SERVER` if set, else `spin` when it
/// is on PATH, else the bundled host's binary (`cargo build -p
/// spin-users-host --bins`), which takes `spin up`'s arguments.
pub fn process_program() -> Result<String> {
    if let Some(program) = crate::server_program() {
        return Ok(program);
    }
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("spin").is_file()));
    if on_path {
        return Ok("spin".into());
    }
    let host = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("debug/spin-users-host");
    if !host.is_file() {
        bail!(
            "{} is not built: run `cargo build -p spin-users-host --bins` (make test does)",
            host.display()
        );
    }
    Ok(host.display().to_string())
}

/// The instances of one app, sharing its data. Dropping it kills them all.
pub struct Cluster {
    instances: Vec<ServerProcess>,
    alive: Vec<AtomicBool>,
    /// The one database every instance uses.
    pub database_url: String,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `size` instances of the repository's `spin.toml` with
    /// `environment` (the `SPIN_VARIABLE_*` settings) plus a fresh
    /// PostgreSQL database, on the production runtime config.
    pub async fn start(size: usize, environment: &HashMap<String, String>) -> Result<Self> {
        let redis = redis_url().context(
            "SPIN_USERS_TEST_REDIS_URL is not set: run through `make test` (scripts/redis.sh prints it)",
        )?;
        let database_url = fresh_postgres_database().await?;
        let dir = tempfile::tempdir()?;
        let production = std::fs::read_to_string(
            workspace_root().join("deploy/runtime-config.production.toml"),
        )?;
        if !production.contains(PRODUCTION_REDIS_URL) {
            bail!("the production runtime config no longer names {PRODUCTION_REDIS_URL}");
        }
        let config = dir.path().join("runtime-config.production.toml");
        std::fs::write(&config, production.replace(PRODUCTION_REDIS_URL, &redis))?;
        let mut environment = environment.clone();
        environment.insert("SPIN_VARIABLE_DATABASE_URL".into(), database_url.clone());
        // The user cache through the components' own Redis client, as
        // deployed (the runtime config's key-value store is the fallback).
        environment.insert("SPIN_VARIABLE_CACHE_REDIS_URL".into(), redis.clone());
        environment.insert(
            "SPIN_VARIABLE_CACHE_REDIS_HOST".into(),
            crate::redis_host_port(&redis),
        );
        let program = process_program()?;
        let mut instances = Vec::with_capacity(size);
        for index in 0..size {
            let home = dir.path().join(format!("instance-{index}"));
            std::fs::create_dir_all(&home)?;
            let server = ServerProcess::start(
                &program,
                &workspace_root().join("spin.toml"),
                &config,
                &home,
                &environment,
                &[],
            )
            .await
            .with_context(|| format!("starting instance {index}"))?;
            instances.push(server);
        }
        Ok(Self {
            alive: instances.iter().map(|_| AtomicBool::new(true)).collect(),
            instances,
            database_url,
            _dir: dir,
        })
    }

    /// How many instances were started (dead ones included).
    pub fn size(&self) -> usize {
        self.instances.len()
    }

    /// Where instance `index` listens.
    pub fn addr(&self, index: usize) -> std::net::SocketAddr {
        self.instances[index].addr
    }

    /// Whether instance `index` is still running.
    pub fn is_alive(&self, index: usize) -> bool {
        self.alive[index].load(Ordering::SeqCst)
    }

    /// Kills instance `index` (its whole process group, with SIGKILL), even
    /// while requests to it are in flight.
    pub fn kill(&self, index: usize) {
        self.alive[index].store(false, Ordering::SeqCst);
        self.instances[index].kill();
    }

    /// Sends one request to instance `index` from the loopback address
    /// `from`; an error when the instance is dead or the connection fails.
    pub async fn try_send(
        &self,
        index: usize,
        from: IpAddr,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<TestResponse> {
        if !self.is_alive(index) {
            bail!("instance {index} is dead");
        }
        let server = &self.instances[index];
        let (status, headers, body) = server
            .send(from, method, path, headers, body.into())
            .await?;
        Ok(TestResponse {
            status,
            headers,
            body,
        })
    }

    /// [`Cluster::try_send`] from 127.0.0.1, panicking on a transport error.
    pub async fn send(
        &self,
        index: usize,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> TestResponse {
        self.try_send(
            index,
            std::net::Ipv4Addr::LOCALHOST.into(),
            method,
            path,
            headers,
            body,
        )
        .await
        .unwrap_or_else(|e| panic!("instance {index} failed on {path}: {e:#}"))
    }
}
