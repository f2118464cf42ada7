//! A loaded application: its components compiled and pre-linked, its router,
//! stores and variables; and the per-request path from an HTTP request to a
//! fresh component instance and back, as Spin's HTTP trigger does it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{
    Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimitsBuilder,
};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi_http::p2::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::{HyperIncomingBody, HyperOutgoingBody};

use crate::key_value::KeyValueBackend;
use crate::manifest::Manifest;
use crate::outbound::OutboundPolicy;
use crate::postgres::PgPools;
use crate::routes::{RouteMatch, Router, WELL_KNOWN_PREFIX};
use crate::runtime_config::{ConfiguredProvider, RuntimeConfig};
use crate::state::{ComponentGrants, FirstOutboundCheck, HostState, add_spin_to_linker};
use crate::variables::{Provider, Variables, parse_variable_sources};

const MB: usize = 1 << 20;

/// How many component instances may be alive at once (Spin's default).
pub const DEFAULT_MAX_INSTANCES: u32 = 1_000;

/// How often Spin's ticker thread advances the engine's epoch.
const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// Builds a Wasmtime engine configured as Spin configures its own
/// (`crates/core/src/lib.rs`): component model, async, epoch interruption
/// with a ticker thread, and the pooling instance allocator sized for
/// `max_instances` concurrent requests.
pub fn engine(max_instances: u32) -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(max_instances)
        .total_memories(max_instances)
        .total_tables(2 * max_instances)
        .total_stacks(max_instances)
        .total_core_instances(4 * max_instances)
        .table_elements(100_000)
        .max_component_instance_size(10 * MB)
        .max_core_instance_size(10 * MB)
        .max_core_instances_per_component(200)
        .max_tables_per_component(64)
        .max_memories_per_component(32)
        .max_tables_per_module(2)
        .max_memories_per_module(2)
        .max_memory_size(4 << 30)
        .linear_memory_keep_resident(2 * MB)
        .table_keep_resident(MB / 2);
    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        // Compiled code checks the epoch at every function entry and loop
        // back-edge; Spin pays for those checks, so the guest does here.
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config)?;
    spawn_epoch_ticker(&engine);
    Ok(engine)
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until it is dropped, as
/// Spin's ticker thread does.
fn spawn_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(EPOCH_TICK);
            let Some(engine) = engine.upgrade() else {
                break;
            };
            engine.increment_epoch();
        }
    });
}

/// Where an application comes from and what it runs with.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Path of `spin.toml`.
    pub manifest: PathBuf,
    /// `--runtime-config-file`; `None` uses Spin's defaults under `.spin/`.
    pub runtime_config: Option<PathBuf>,
    /// The environment variable providers read (`SPIN_VARIABLE_*`).
    pub environment: HashMap<String, String>,
    /// `--variable` sources (`key=value`, `key=@file`, `@file.toml`,
    /// `@file.json`), in order.
    pub variables: Vec<String>,
    /// Directory for compiled components; `None` compiles every time.
    pub compile_cache: Option<PathBuf>,
    /// Whether components' stdout and stderr reach this process's (as under
    /// `spin up`); tests turn it off unless asked, to keep their output
    /// readable.
    pub guest_output: bool,
}

impl AppOptions {
    /// Options for `manifest` with this process's environment and no cache.
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            runtime_config: None,
            environment: std::env::vars().collect(),
            variables: Vec::new(),
            compile_cache: None,
            guest_output: true,
        }
    }
}

pub(crate) struct LoadedComponent {
    /// Linked, ready to instantiate.
    pub(crate) instance_pre: InstancePre<HostState>,
    /// The `wasi:http` handler, for components an HTTP trigger routes to.
    http: Option<ProxyPre<HostState>>,
    component: Component,
    grants: Arc<ComponentGrants>,
    environment: Vec<(String, String)>,
    /// Growths of the component's memory past its initial size, over all
    /// requests so far.
    memory_growths: Arc<AtomicU64>,
}

/// A loaded, ready-to-serve application.
pub struct App {
    engine: Engine,
    guest_output: bool,
    manifest: Manifest,
    router: Router,
    pub(crate) components: HashMap<String, LoadedComponent>,
    /// The resolved application variables (trigger settings are templates).
    pub(crate) variables: Arc<Variables>,
}

impl App {
    /// Loads and validates the app, compiles every component and links it
    /// against the host. Fails as `spin up` fails: on a bad manifest, a
    /// missing required variable, or an undeclared store label.
    pub fn load(engine: &Engine, options: &AppOptions) -> Result<Self> {
        let manifest = Manifest::from_file(&options.manifest)?;
        let runtime_config = match &options.runtime_config {
            Some(path) => RuntimeConfig::from_file(path, &manifest.app_dir)?,
            None => RuntimeConfig::defaults(&manifest.app_dir),
        };
        crate::stores::create_store_directories(&runtime_config)?;
        let router = Router::build(&manifest.http_triggers)?;
        let variables = Arc::new(Variables::resolve(
            &manifest.variables,
            manifest.components.iter().map(|(id, c)| (id, &c.variables)),
            &variable_providers(options, &runtime_config)?,
        )?);
        let kv_backends: BTreeMap<String, Arc<KeyValueBackend>> = runtime_config
            .key_value_stores
            .iter()
            .map(|(label, location)| (label.clone(), Arc::new(KeyValueBackend::new(location))))
            .collect();

        let mut linker = Linker::<HostState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        add_spin_to_linker(&mut linker)?;

        let mut components = HashMap::new();
        for (id, decl) in &manifest.components {
            let grant = |labels: &[String], what: &str, known: &dyn Fn(&str) -> bool| {
                for label in labels {
                    if !known(label) {
                        bail!(
                            "component {id:?} uses {what} {label:?}, which the runtime config does not define"
                        );
                    }
                }
                Ok(())
            };
            grant(&decl.key_value_stores, "key-value store", &|l| {
                kv_backends.contains_key(l)
            })?;
            grant(&decl.sqlite_databases, "SQLite database", &|l| {
                runtime_config.sqlite_databases.contains_key(l)
            })?;
            let grants = Arc::new(ComponentGrants {
                id: id.clone(),
                key_value_stores: decl
                    .key_value_stores
                    .iter()
                    .map(|l| (l.clone(), kv_backends[l].clone()))
                    .collect(),
                sqlite_databases: decl
                    .sqlite_databases
                    .iter()
                    .map(|l| (l.clone(), runtime_config.sqlite_databases[l].clone()))
                    .collect(),
                outbound: decl
                    .allowed_outbound_hosts
                    .iter()
                    .map(|entry| variables.expand(entry))
                    .collect::<Result<Vec<_>>>()
                    .and_then(|entries| OutboundPolicy::parse(&entries))
                    .with_context(|| format!("component {id:?} allowed_outbound_hosts"))?,
                variables: variables.clone(),
                // Spin 4.0.2 makes one client factory, so one set of
                // pools, per component (`configure_app` in
                // `crates/factor-outbound-pg/src/lib.rs`).
                pg_pools: Arc::new(PgPools::default()),
            });
            let source = manifest.app_dir.join(&decl.source);
            let component = load_component(engine, &source, options.compile_cache.as_deref())
                .with_context(|| format!("component {id:?}"))?;
            let instance_pre = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("component {id:?} imports something this host does not provide")
                })?;
            let routed = manifest.http_triggers.iter().any(|t| &t.component == id);
            let http = routed
                .then(|| {
                    ProxyPre::new(instance_pre.clone())
                        .map_err(anyhow::Error::from)
                        .with_context(|| {
                            format!("component {id:?} does not export wasi:http/incoming-handler")
                        })
                })
                .transpose()?;
            let environment = decl
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            components.insert(
                id.clone(),
                LoadedComponent {
                    instance_pre,
                    http,
                    component,
                    grants,
                    environment,
                    memory_growths: Arc::default(),
                },
            );
        }
        Ok(Self {
            engine: engine.clone(),
            guest_output: options.guest_output,
            manifest,
            router,
            components,
            variables,
        })
    }

    /// Environment-provider lookups (each a `block_in_place` under Spin)
    /// every instance of the app has made so far.
    pub fn environment_lookups(&self) -> u64 {
        self.variables.environment_lookups()
    }

    /// The manifest the app was loaded from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The fully qualified names of what component `id` imports, e.g.
    /// `fermyon:spin/key-value@2.0.0`.
    pub fn component_imports(&self, id: &str) -> Option<Vec<String>> {
        let loaded = self.components.get(id)?;
        let ty = loaded.component.component_type();
        Some(
            ty.imports(&self.engine)
                .map(|(name, _)| name.to_owned())
                .collect(),
        )
    }

    /// How many times requests to component `id` have grown its memory
    /// past the initial size (a performance check: see `.cargo/config.toml`).
    pub fn memory_growths(&self, id: &str) -> Option<u64> {
        let loaded = self.components.get(id)?;
        Some(loaded.memory_growths.load(Ordering::Relaxed))
    }

    /// Serves one request from outside the app: well-known Spin paths first,
    /// then the router; unmatched paths get Spin's empty 404.
    pub async fn handle(
        &self,
        req: Request<HyperIncomingBody>,
        client_addr: SocketAddr,
    ) -> Result<Response<HyperOutgoingBody>> {
        let path = req.uri().path().to_owned();
        if let Some(well_known) = path.strip_prefix(WELL_KNOWN_PREFIX) {
            return Ok(match well_known {
                "health" => text_response(StatusCode::OK, "OK"),
                "info" => text_response(
                    StatusCode::OK,
                    serde_json::json!({
                        "name": self.manifest.application.name,
                        "version": self.manifest.application.version,
                    })
                    .to_string(),
                ),
                _ => empty_response(StatusCode::NOT_FOUND),
            });
        }
        match self.router.route(&path) {
            Some(route) => self.call_component(req, &route, client_addr).await,
            None => Ok(empty_response(StatusCode::NOT_FOUND)),
        }
    }

    async fn call_component(
        &self,
        req: Request<HyperIncomingBody>,
        route: &RouteMatch,
        client_addr: SocketAddr,
    ) -> Result<Response<HyperOutgoingBody>> {
        let loaded = self
            .components
            .get(&route.component)
            .with_context(|| format!("unknown component {:?}", route.component))?;
        let pre = loaded
            .http
            .clone()
            .with_context(|| format!("component {:?} has no HTTP trigger", route.component))?;
        let req = prepare_request(req, route, client_addr)?;
        let mut store = self.new_store(loaded);

        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        let component = route.component.clone();
        let task = tokio::task::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
        });

        match receiver.await {
            Ok(Ok(response)) => Ok(response.map(|body| body.boxed_unsync())),
            Ok(Err(code)) => {
                tracing::error!(%component, "component answered with error code {code:?}");
                Ok(empty_response(StatusCode::INTERNAL_SERVER_ERROR))
            }
            Err(_) => {
                match task.await {
                    Ok(Ok(())) => tracing::error!(%component, "component never set a response"),
                    Ok(Err(trap)) => tracing::error!(%component, "component trapped: {trap:?}"),
                    Err(join) => tracing::error!(%component, "component task failed: {join}"),
                }
                Ok(empty_response(StatusCode::INTERNAL_SERVER_ERROR))
            }
        }
    }
}

impl App {
    /// A fresh store for one invocation of `loaded`, with its grants.
    pub(crate) fn new_store(&self, loaded: &LoadedComponent) -> Store<HostState> {
        let mut wasi = WasiCtx::builder();
        if self.guest_output {
            wasi.inherit_stdout().inherit_stderr();
        }
        for (k, v) in &loaded.environment {
            wasi.env(k, v);
        }
        // As Spin's outbound-networking factor: TCP connects (and UDP) to
        // what `allowed_outbound_hosts` names as `tcp://`/`udp://`, never a
        // bind, and no name lookup (wasmtime's default, which Spin keeps).
        let first_check = Arc::new(FirstOutboundCheck::new(loaded.grants.variables.clone()));
        let grants = loaded.grants.clone();
        let socket_check = first_check.clone();
        wasi.socket_addr_check(move |address, usage| {
            let scheme = match usage {
                SocketAddrUse::TcpBind => None,
                SocketAddrUse::TcpConnect => Some("tcp"),
                SocketAddrUse::UdpBind
                | SocketAddrUse::UdpConnect
                | SocketAddrUse::UdpOutgoingDatagram => Some("udp"),
            };
            // A bind is refused before the allow-list is consulted, so it
            // pays nothing; anything else is an outbound check.
            let allowed = scheme.is_some_and(|scheme| {
                socket_check.pay_once();
                grants
                    .outbound
                    .allows(scheme, &address.ip().to_string(), address.port())
            });
            Box::pin(async move { allowed })
        });
        let limits = StoreLimitsBuilder::new().build();
        let mut store = Store::new(
            &self.engine,
            HostState::new(
                loaded.grants.clone(),
                wasi.build(),
                limits,
                loaded.memory_growths.clone(),
                first_check,
            ),
        );
        store.limiter(|state| state.limiter());
        // Spin's default: no request is ever interrupted.
        store.set_epoch_deadline(u64::MAX / 2);
        store
    }
}

/// Spin's request preparation: an absolute URI, the `spin-*` headers, path
/// parameters as `spin-path-match-<name>`, and the `connection` header
/// (transport detail) removed.
fn prepare_request(
    req: Request<HyperIncomingBody>,
    route: &RouteMatch,
    client_addr: SocketAddr,
) -> Result<Request<HyperIncomingBody>> {
    let (mut parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/")
        .to_owned();
    let full_url = format!("http://{host}{path_and_query}");
    parts.uri = Uri::try_from(full_url.as_str()).context("request URI")?;

    let headers = &mut parts.headers;
    headers.remove(http::header::CONNECTION);
    let mut set = |name: &str, value: &str| -> Result<()> {
        headers.insert(HeaderName::try_from(name)?, HeaderValue::try_from(value)?);
        Ok(())
    };
    set("spin-path-info", &route.path_info)?;
    set("spin-full-url", &full_url)?;
    set("spin-matched-route", &route.matched_route)?;
    set("spin-base-path", "/")?;
    set("spin-raw-component-route", &route.raw_route)?;
    set("spin-component-route", &route.route_prefix)?;
    set("spin-client-addr", &client_addr.to_string())?;
    for (name, value) in &route.params {
        set(
            &format!("spin-path-match-{}", name.to_ascii_lowercase()),
            value,
        )?;
    }
    Ok(Request::from_parts(parts, body))
}

/// Reads a component, reusing a compiled artifact from `cache` when one for
/// these exact bytes and this engine exists.
/// Spin's providers in Spin's order: `--variable` first, the runtime
/// config's `[[variables_provider]]` entries next, the environment last.
fn variable_providers(
    options: &AppOptions,
    runtime_config: &RuntimeConfig,
) -> Result<Vec<Provider>> {
    let environment = |prefix: &str| Provider::environment(prefix, options.environment.clone());
    let mut providers = vec![Provider::Static(parse_variable_sources(
        &options.variables,
    )?)];
    providers.extend(runtime_config.variables_providers.iter().map(|p| match p {
        ConfiguredProvider::Static(values) => Provider::Static(values.clone()),
        ConfiguredProvider::Environment { prefix } => environment(prefix),
    }));
    providers.push(environment("SPIN_VARIABLE"));
    Ok(providers)
}

fn load_component(engine: &Engine, source: &Path, cache: Option<&Path>) -> Result<Component> {
    let wasm = std::fs::read(source)
        .with_context(|| format!("reading {} (run `make build` first)", source.display()))?;
    let Some(cache) = cache else {
        return Ok(Component::new(engine, &wasm)?);
    };
    let mut hasher = Sha256::new();
    hasher.update(&wasm);
    std::hash::Hash::hash(
        &engine.precompile_compatibility_hash(),
        &mut HashWriter(&mut hasher),
    );
    let key: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cached = cache.join(format!("{key}.cwasm"));
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` below for this
        // exact engine configuration (its hash is part of the file name), in a
        // cache directory this process owns.
        #[allow(unsafe_code)]
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &cached) } {
            return Ok(component);
        }
    }
    let component = Component::new(engine, &wasm)?;
    std::fs::create_dir_all(cache)?;
    // Unique per writer: tests compile the same component on several threads.
    static WRITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let writer = WRITERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = cache.join(format!("{key}.{}-{writer}.tmp", std::process::id()));
    std::fs::write(&tmp, component.serialize()?)?;
    std::fs::rename(&tmp, &cached)?;
    Ok(component)
}

/// Feeds `std::hash::Hash` output into a SHA-256 hasher.
struct HashWriter<'a>(&'a mut Sha256);

impl std::hash::Hasher for HashWriter<'_> {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// A complete request body from bytes, for callers that hold the whole body.
pub fn full_body(bytes: impl Into<Bytes>) -> HyperIncomingBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn empty_response(status: StatusCode) -> Response<HyperOutgoingBody> {
    let mut resp = Response::new(
        Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp
}

fn text_response(status: StatusCode, body: impl Into<Bytes>) -> Response<HyperOutgoingBody> {
    let mut resp = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp
}
