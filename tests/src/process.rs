//! The app served by a separate process, `spin up` or a stand-in that
//! takes the same arguments, reached over real HTTP on a loopback port.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// How long a server may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A server process in its own process group. Dropping it kills the whole
/// group: `spin up` runs the app in a `spin trigger http` child, which a
/// kill of `spin up` alone leaves running (holding the test's output pipe).
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl ServerProcess {
    /// Starts `program up --from manifest --listen … --runtime-config-file …
    /// [--variable source]…` in `dir` with `environment` (plus this
    /// process's `PATH` and `HOME`), and waits until it answers. A server that exits first is an error
    /// carrying its output, as `spin up` reports a refused start.
    pub async fn start(
        program: &str,
        manifest: &Path,
        runtime_config: &Path,
        dir: &Path,
        environment: &HashMap<String, String>,
        variables: &[String],
    ) -> Result<Self> {
        let launch = Launch {
            program,
            manifest,
            runtime_config,
            dir,
            environment,
            variables,
        };
        // The port is free when chosen, but a client socket elsewhere in the
        // suite can take it before the server binds: that start is retried
        // on another port; any other failure is reported at once.
        let mut attempts = 0;
        loop {
            let addr = free_loopback_port()?;
            match launch.run(Some(addr), Ready::Health).await {
                Err(e) if attempts < 4 && format!("{e:#}").contains("Address already in use") => {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    /// Starts an app with no HTTP trigger (a Redis-triggered worker) the
    /// same way, and waits until its log shows `ready` (Spin prints each
    /// channel once subscribed: `\t<server>/<channel>: [<components>]`).
    pub async fn start_subscriber(
        program: &str,
        manifest: &Path,
        runtime_config: &Path,
        dir: &Path,
        environment: &HashMap<String, String>,
        ready: &str,
    ) -> Result<Self> {
        let launch = Launch {
            program,
            manifest,
            runtime_config,
            dir,
            environment,
            variables: &[],
        };
        launch.run(None, Ready::LogLine(ready)).await
    }

    /// Sends one request on a new connection from the loopback address
    /// `from` (any of 127.0.0.0/8 reaches the server); returns status,
    /// headers, body.
    pub async fn send(
        &self,
        from: std::net::IpAddr,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(u16, HeaderMap, Bytes)> {
        let stream = if from == std::net::Ipv4Addr::LOCALHOST {
            tokio::net::TcpStream::connect(self.addr).await?
        } else {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(std::net::SocketAddr::new(from, 0))?;
            socket.connect(self.addr).await?
        };
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let request = crate::request_head(method, path, headers).body(Full::new(body))?;
        let resp = sender.send_request(request).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, headers, body))
    }
}

impl ServerProcess {
    /// Kills the whole process group with SIGKILL, as a crashed pod or a
    /// lost node ends: no graceful shutdown.
    pub fn kill(&self) {
        // The group's id is the leader's pid (`process_group(0)`). A signal
        // through the API, not the `kill` command: util-linux's `kill`
        // reads `-<pgid>` in ways that can reach every process.
        let group = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address with a port free at the time of asking.
fn free_loopback_port() -> Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// What a server is started with.
struct Launch<'a> {
    program: &'a str,
    manifest: &'a Path,
    runtime_config: &'a Path,
    dir: &'a Path,
    environment: &'a HashMap<String, String>,
    /// `--variable` sources, in order.
    variables: &'a [String],
}

/// How to tell that a started server is ready.
enum Ready<'a> {
    /// It answers Spin's health path over HTTP.
    Health,
    /// Its log contains this line.
    LogLine(&'a str),
}

impl Launch<'_> {
    /// `program up --from manifest [--listen addr] --runtime-config-file …`
    /// in `dir`, in its own process group, with `environment` (plus this
    /// process's `PATH`, `HOME` and the host's cache and log settings), its
    /// output to `dir/server.log`; then waits until it is `ready`. A
    /// server that exits first is an error carrying its output, as `spin
    /// up` reports a refused start.
    async fn run(
        &self,
        listen: Option<std::net::SocketAddr>,
        ready: Ready<'_>,
    ) -> Result<ServerProcess> {
        let program = self.program;
        let log_path = self.dir.join("server.log");
        let log = std::fs::File::create(&log_path)?;
        let mut command = Command::new(program);
        command.arg("up").arg("--from").arg(self.manifest);
        if let Some(addr) = listen {
            command.arg("--listen").arg(addr.to_string());
        }
        for source in self.variables {
            command.arg("--variable").arg(source);
        }
        command
            .arg("--runtime-config-file")
            .arg(self.runtime_config)
            .current_dir(self.dir)
            .env_clear()
            .envs(
                ["PATH", "HOME", "SPIN_USERS_HOST_CACHE_DIR", "RUST_LOG"]
                    .into_iter()
                    .filter_map(|k| std::env::var(k).ok().map(|v| (k, v))),
            )
            .envs(self.environment)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        let child = command
            .spawn()
            .with_context(|| format!("starting `{program} up` (is it on PATH?)"))?;
        let mut server = ServerProcess {
            child,
            addr: listen.unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let is_ready = match ready {
                Ready::Health => matches!(
                    server
                        .send(
                            std::net::Ipv4Addr::LOCALHOST.into(),
                            Method::GET,
                            "/.well-known/spin/health",
                            &[],
                            Bytes::new(),
                        )
                        .await,
                    Ok((200, _, _))
                ),
                Ready::LogLine(line) => std::fs::read_to_string(&log_path)
                    .unwrap_or_default()
                    .contains(line),
            };
            if is_ready {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                let output = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("`{program} up` exited with {status} before it was ready:\n{output}");
            }
            if Instant::now() > deadline {
                let output = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("`{program} up` was not ready within {START_TIMEOUT:?}:\n{output}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
