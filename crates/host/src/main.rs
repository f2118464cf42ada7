//! `spin-users-host serve`: run the app on a TCP port without the Spin CLI.
//!
//! `spin-users-host up` takes the arguments `spin up` takes for the same
//! job (`--from`, `--listen`, `--runtime-config-file`, `--variable`), so a harness that
//! starts `spin up` can start this host instead. `SPIN_USERS_HOST_CACHE_DIR`
//! names a directory for compiled components.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use spin_users_host::{App, AppOptions, DEFAULT_MAX_INSTANCES, engine, run_redis_triggers, serve};

const USAGE: &str = "usage: spin-users-host serve|up [--manifest|--from spin.toml] \
[--runtime-config-file runtime-config.toml] [--listen 127.0.0.1:3000] \
[--variable key=value|key=@file|@file.toml|@file.json]... [--cache-dir DIR]";

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "spin_users_host=info".into()),
        )
        .init();

    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("serve" | "up") => {}
        _ => bail!("{USAGE}"),
    }
    let mut options = AppOptions::new("spin.toml");
    options.compile_cache = std::env::var_os("SPIN_USERS_HOST_CACHE_DIR").map(PathBuf::from);
    let mut listen: SocketAddr = "127.0.0.1:3000".parse()?;
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--manifest" | "--from" | "-f" => options.manifest = PathBuf::from(value()?),
            "--runtime-config-file" => options.runtime_config = Some(PathBuf::from(value()?)),
            "--listen" => listen = value()?.parse().context("--listen")?,
            "--variable" => options.variables.push(value()?),
            "--cache-dir" => options.compile_cache = Some(PathBuf::from(value()?)),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }

    let engine = engine(DEFAULT_MAX_INSTANCES)?;
    let app = Arc::new(App::load(&engine, &options)?);
    // Like `spin up`: each trigger type in the manifest runs; an app with
    // Redis triggers only serves no HTTP.
    let redis = app
        .has_redis_triggers()
        .then(|| tokio::spawn(run_redis_triggers(app.clone())));
    if app.manifest().http_triggers.is_empty() {
        let Some(redis) = redis else {
            bail!("the manifest has no HTTP or Redis triggers");
        };
        return tokio::select! {
            finished = redis => finished?,
            _ = tokio::signal::ctrl_c() => Ok(()),
        };
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let manifest = app.manifest();
    println!("Serving http://{listen} ({})", manifest.application.name);
    for trigger in &manifest.http_triggers {
        println!("  {} -> {}", trigger.route, trigger.component);
    }
    let served = serve(app, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    });
    match redis {
        Some(redis) => tokio::select! {
            served = served => served,
            finished = redis => finished?,
        },
        None => served.await,
    }
}
