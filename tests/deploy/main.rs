//! The SpinKube manifests under `deploy/spinkube/`, checked against what
//! they deploy: every document parses; the `SpinApp` has only fields the
//! Spin operator's CRD (`core.spinkube.dev/v1alpha1`) defines; its probes
//! name routes `spin.toml` really has; every setting comes from the
//! runtime-config `Secret`, whose generated text serves every variable of
//! `spin.toml` from a static provider; the autoscaler and the drain
//! `CronJob` point at what the operator creates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use spin_users_component_tests::workspace_root;

/// The `SpinApp` fields this deployment may use, named as the operator's
/// `api/v1alpha1/spinapp_types.go` names them; anything else (a typo, a
/// field of another version) fails to parse.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpinApp {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: SpinAppSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpinAppSpec {
    image: String,
    executor: String,
    replicas: Option<i32>,
    #[serde(default)]
    enable_autoscaling: bool,
    resources: Resources,
    checks: Checks,
    runtime_config: RuntimeConfig,
    /// The CRD's `variables` (name, value or a Secret reference); this app
    /// binds none (see below), so only their names are read.
    #[serde(default)]
    variables: Vec<serde_yaml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resources {
    requests: BTreeMap<String, String>,
    limits: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Checks {
    liveness: Probe,
    readiness: Probe,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Probe {
    http_get: HttpGet,
    initial_delay_seconds: Option<i32>,
    period_seconds: Option<i32>,
    timeout_seconds: Option<i32>,
    failure_threshold: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpGet {
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuntimeConfig {
    load_from_secret: String,
}

fn spinkube_dir() -> PathBuf {
    workspace_root().join("deploy/spinkube")
}

/// Every YAML document of every manifest, by file name.
fn documents() -> Vec<(String, serde_yaml::Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(spinkube_dir())
        .expect("deploy/spinkube exists")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut documents = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read manifest");
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"));
            documents.push((name.clone(), value));
        }
    }
    documents
}

fn of_kind(kind: &str) -> Vec<(String, serde_yaml::Value)> {
    documents()
        .into_iter()
        .filter(|(_, doc)| doc["kind"].as_str() == Some(kind))
        .collect()
}

fn spin_app() -> SpinApp {
    let apps = of_kind("SpinApp");
    assert_eq!(apps.len(), 1, "exactly one SpinApp");
    serde_yaml::from_value(apps[0].1.clone())
        .unwrap_or_else(|e| panic!("{}: not a SpinApp of the operator's CRD: {e}", apps[0].0))
}

fn spin_toml() -> toml::Table {
    std::fs::read_to_string(workspace_root().join("spin.toml"))
        .expect("read spin.toml")
        .parse()
        .expect("spin.toml parses")
}

/// `spin.toml`'s variables: name → (required, secret).
fn app_variables() -> BTreeMap<String, (bool, bool)> {
    spin_toml()["variables"]
        .as_table()
        .expect("[variables]")
        .iter()
        .map(|(name, spec)| {
            let flag = |key: &str| {
                spec.get(key)
                    .and_then(toml::Value::as_bool)
                    .unwrap_or(false)
            };
            (name.clone(), (flag("required"), flag("secret")))
        })
        .collect()
}

fn http_routes() -> BTreeSet<String> {
    spin_toml()["trigger"]["http"]
        .as_array()
        .expect("[[trigger.http]]")
        .iter()
        .filter_map(|t| t["route"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_manifest_parses_and_the_kustomization_lists_them_all() {
    let documents = documents();
    let listed: BTreeSet<String> = of_kind("Kustomization")
        .first()
        .expect("a kustomization.yaml")
        .1["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("a file name").to_owned())
        .collect();
    let manifests: BTreeSet<String> = documents
        .iter()
        .filter(|(_, doc)| doc["kind"].as_str() != Some("Kustomization"))
        .map(|(file, _)| file.clone())
        .collect();

    assert_eq!(listed, manifests);
    for (file, doc) in &documents {
        assert!(doc["apiVersion"].as_str().is_some(), "{file}: apiVersion");
        assert!(doc["kind"].as_str().is_some(), "{file}: kind");
    }
}

#[test]
fn the_spin_app_runs_the_pushed_image_with_probes_on_real_routes() {
    let app = spin_app();
    let routes = http_routes();

    assert_eq!(app.api_version, "core.spinkube.dev/v1alpha1");
    assert_eq!(app.kind, "SpinApp");
    assert_eq!(
        app.metadata
            .labels
            .get("app.kubernetes.io/name")
            .map(String::as_str),
        Some("spin-users")
    );
    assert!(
        app.spec.image.contains("/spin-users:"),
        "{}",
        app.spec.image
    );
    assert_eq!(app.spec.executor, "containerd-shim-spin");
    assert_eq!(app.spec.checks.liveness.http_get.path, "/healthz");
    assert_eq!(app.spec.checks.readiness.http_get.path, "/readyz");
    for probe in [&app.spec.checks.liveness, &app.spec.checks.readiness] {
        assert!(
            routes.contains(&probe.http_get.path),
            "{} is not a route",
            probe.http_get.path
        );
        for value in [
            probe.initial_delay_seconds,
            probe.period_seconds,
            probe.timeout_seconds,
            probe.failure_threshold,
        ] {
            assert!(value.is_none_or(|v| v >= 1));
        }
    }
    for resources in [&app.spec.resources.requests, &app.spec.resources.limits] {
        assert!(resources.contains_key("cpu") && resources.contains_key("memory"));
    }
    assert!(!app.spec.runtime_config.load_from_secret.is_empty());
}

#[test]
fn settings_come_from_the_runtime_config_secret_and_never_sit_in_a_manifest() {
    let app = spin_app();

    // The shim reads only /runtime-config.toml; variables bound in the
    // SpinApp would reach the app through Spin's environment provider (a
    // thread hand-off per lookup, and one per variable on each instance's
    // first PostgreSQL call) instead of the static provider there.
    assert!(
        app.spec.variables.is_empty(),
        "the SpinApp binds variables: {:?}",
        app.spec.variables
    );
    assert_eq!(
        app.spec.runtime_config.load_from_secret,
        "spin-users-runtime-config"
    );
    // The database URL, the Redis URL and every token live in Secrets the
    // operator creates from files or a vault, never in this directory.
    for (file, doc) in of_kind("Secret") {
        assert!(
            doc.get("data").is_none() && doc.get("stringData").is_none(),
            "{file} carries secret values"
        );
    }
}

#[test]
fn the_generated_runtime_config_serves_every_variable_from_a_static_provider() {
    // What deploy/README.md tells the operator to run for the Secret.
    let output = std::process::Command::new("python3")
        .arg(workspace_root().join("scripts/spin-variables.py"))
        .arg("--runtime-config")
        .arg(workspace_root().join("deploy/runtime-config.production.toml"))
        .arg(workspace_root().join("spin.toml"))
        .env("SPIN_VARIABLE_SIGNING_KEY", "a \"quoted\" key")
        .env("SPIN_VARIABLE_DATABASE_URL", "postgres://app@db:5432/users")
        .output()
        .expect("run scripts/spin-variables.py");
    assert!(output.status.success(), "{output:?}");
    let config: toml::Table = String::from_utf8(output.stdout)
        .expect("UTF-8")
        .parse()
        .expect("the runtime config parses");

    assert_eq!(
        config["key_value_store"]["default"]["type"].as_str(),
        Some("redis"),
        "the production runtime config is kept"
    );
    let providers = config["variables_provider"]
        .as_array()
        .expect("[[variables_provider]]");
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0]["type"].as_str(), Some("static"));
    let values = providers[0]["values"].as_table().expect("values");
    let names: BTreeSet<&String> = values.keys().collect();
    let declared = app_variables();
    assert_eq!(
        names,
        declared.keys().collect::<BTreeSet<_>>(),
        "every variable of spin.toml, so none falls through to the environment"
    );
    assert_eq!(values["signing_key"].as_str(), Some("a \"quoted\" key"));
    assert_eq!(
        values["database_url"].as_str(),
        Some("postgres://app@db:5432/users")
    );
    assert_eq!(
        values["service_name"].as_str(),
        Some("spin-users"),
        "defaults fill the rest"
    );
}

#[test]
fn the_autoscaler_and_the_drain_job_target_what_the_operator_creates() {
    let app = spin_app();
    let autoscalers = of_kind("HorizontalPodAutoscaler");
    let drains = of_kind("CronJob");

    assert!(app.spec.enable_autoscaling, "replicas are the autoscaler's");
    assert!(
        app.spec.replicas.is_none(),
        "the CRD refuses replicas with enableAutoscaling"
    );
    assert_eq!(autoscalers.len(), 1);
    let target = &autoscalers[0].1["spec"]["scaleTargetRef"];
    assert_eq!(target["kind"].as_str(), Some("Deployment"));
    assert_eq!(target["name"].as_str(), Some(app.metadata.name.as_str()));
    let (min, max) = (
        autoscalers[0].1["spec"]["minReplicas"]
            .as_i64()
            .expect("minReplicas"),
        autoscalers[0].1["spec"]["maxReplicas"]
            .as_i64()
            .expect("maxReplicas"),
    );
    assert!(1 <= min && min <= max, "{min}..{max}");

    assert_eq!(drains.len(), 1);
    let job = &drains[0].1["spec"];
    assert!(
        job["schedule"]
            .as_str()
            .is_some_and(|s| s.split_whitespace().count() == 5)
    );
    assert_eq!(job["concurrencyPolicy"].as_str(), Some("Forbid"));
    let container = &job["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let command = serde_yaml::to_string(&container["command"]).expect("command");
    assert!(
        command.contains(&format!("http://{}/jobs/drain", app.metadata.name)),
        "{command}"
    );
    assert!(
        http_routes().iter().any(|r| r == "/jobs/drain"),
        "the drain route exists"
    );
    let token = &container["env"][0];
    assert_eq!(
        token["valueFrom"]["secretKeyRef"]["key"].as_str(),
        Some("jobs_token")
    );
    assert!(token.get("value").is_none(), "the token is never inline");
}

#[test]
fn the_production_runtime_config_keeps_the_cache_on_redis() {
    let config: toml::Table = std::fs::read_to_string(
        Path::new(&workspace_root()).join("deploy/runtime-config.production.toml"),
    )
    .expect("read the production runtime config")
    .parse()
    .expect("parses");
    let store = &config["key_value_store"]["default"];

    assert_eq!(store["type"].as_str(), Some("redis"));
    assert!(
        store["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("redis://"))
    );
    assert!(
        config.get("sqlite_database").is_none(),
        "the data lives in PostgreSQL through database_url"
    );
}

#[test]
fn the_redis_worker_app_subscribes_its_component_and_grants_it_no_more() {
    let manifest = spin_users_host::Manifest::from_file(
        &workspace_root().join("deploy/redis-worker/spin.toml"),
    )
    .expect("the worker manifest is valid");
    let service = app_variables();

    assert!(
        manifest.http_triggers.is_empty(),
        "the worker serves no HTTP"
    );
    assert_eq!(manifest.redis_triggers.len(), 1);
    let trigger = &manifest.redis_triggers[0];
    assert_eq!(trigger.channel, "{{ jobs_redis_channel }}");
    assert_eq!(
        manifest
            .application
            .trigger
            .redis
            .as_ref()
            .map(|r| r.address.as_str()),
        Some("{{ jobs_redis_url }}")
    );
    let worker = &manifest.components[&trigger.component];
    assert!(worker.source.ends_with("spin_users_worker.wasm"));
    assert!(worker.key_value_stores.is_empty(), "it reads no cache");
    assert!(
        worker
            .allowed_outbound_hosts
            .iter()
            .all(|h| !h.starts_with("redis")),
        "the trigger's connection is Spin's, not the component's"
    );
    // Its settings are the service's, under the same names.
    for name in manifest.variables.keys() {
        assert!(
            service.contains_key(name),
            "{name} is not a variable of spin.toml"
        );
    }
}

#[test]
fn only_the_components_that_cache_users_may_reach_the_cache_redis() {
    let manifest = spin_users_host::Manifest::from_file(&workspace_root().join("spin.toml"))
        .expect("spin.toml is valid");
    let grant = "tcp://{{ cache_redis_host }}";

    let mut granted = BTreeSet::new();
    for (id, component) in &manifest.components {
        let reaches = component.allowed_outbound_hosts.iter().any(|h| h == grant);
        let tcp_grants = component
            .allowed_outbound_hosts
            .iter()
            .filter(|h| h.starts_with("tcp://"))
            .count();
        assert!(tcp_grants <= usize::from(reaches), "{id}: no other raw TCP");
        let reads_url = component
            .variables
            .get("cache_redis_url")
            .map(String::as_str);
        // The client reads the URL and connects where the grant allows:
        // one without the other is a broken cache or an unused grant.
        assert_eq!(
            reaches,
            reads_url == Some("{{ cache_redis_url }}"),
            "{id}: grant and variable go together"
        );
        if reaches {
            granted.insert(id.as_str());
        }
    }

    assert_eq!(
        granted,
        BTreeSet::from(["auth", "health", "jobs", "users"]),
        "the components holding a key-value store for the cache, and no others"
    );
    assert_eq!(
        app_variables()["cache_redis_url"],
        (false, true),
        "a secret"
    );
}
