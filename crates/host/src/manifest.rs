//! The subset of Spin's application manifest (`spin.toml`, manifest version 2)
//! that the host understands, parsed and checked the way `spin up` checks it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

use crate::variables::{VariableDecl, validate_name};

/// A parsed and validated `spin.toml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Directory holding `spin.toml`; component sources resolve against it.
    pub app_dir: PathBuf,
    /// `[application]` metadata.
    pub application: Application,
    /// `[variables]`: application variables by name.
    pub variables: BTreeMap<String, VariableDecl>,
    /// `[[trigger.http]]` entries, in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// `[[trigger.redis]]` entries, in manifest order.
    pub redis_triggers: Vec<RedisTrigger>,
    /// `[component.<id>]` tables by component id.
    pub components: BTreeMap<String, ComponentDecl>,
}

/// `[application]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// Application name.
    pub name: String,
    /// Application version.
    #[serde(default)]
    pub version: Option<String>,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Authors.
    #[serde(default)]
    pub authors: Vec<String>,
    /// `[application.trigger.*]`: settings shared by a trigger type.
    #[serde(default)]
    pub trigger: ApplicationTriggers,
}

/// `[application.trigger]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationTriggers {
    /// `[application.trigger.redis]`.
    #[serde(default)]
    pub redis: Option<RedisTriggerDefaults>,
}

/// `[application.trigger.redis]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTriggerDefaults {
    /// The server every Redis trigger subscribes to unless it names its own:
    /// a template over application variables, e.g. `{{ redis_url }}`.
    pub address: String,
}

/// One `[[trigger.redis]]` entry: messages on `channel` run `component`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTrigger {
    /// Optional trigger id.
    #[serde(default)]
    pub id: Option<String>,
    /// The channel (a template over application variables).
    pub channel: String,
    /// The server, overriding `[application.trigger.redis]` (a template).
    #[serde(default)]
    pub address: Option<String>,
    /// The id of the component that handles the messages.
    pub component: String,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    /// Optional trigger id.
    #[serde(default)]
    pub id: Option<String>,
    /// `route = "/path"` or `route = { private = true }`.
    pub route: RouteConfig,
    /// The id of the component that serves the route.
    pub component: String,
    /// Executor; only the default (`wasi:http` / Spin) executor is supported.
    #[serde(default)]
    pub executor: Option<toml::Value>,
}

/// A trigger's route: a pattern, or a private (unroutable) endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RouteConfig {
    /// A routable pattern such as `/users/:id` or `/static/...`.
    Route(String),
    /// `{ private = true }`: reachable only through service chaining, never from outside.
    Private {
        /// Must be true.
        private: bool,
    },
}

impl std::fmt::Display for RouteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Route(route) => f.write_str(route),
            Self::Private { .. } => f.write_str("(private)"),
        }
    }
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDecl {
    /// Path of the `.wasm`, relative to the manifest.
    pub source: PathBuf,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Key-value store labels the component may open.
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// SQLite database labels the component may open.
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    /// Outbound network destinations, e.g. `https://api.example.com`.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Component variables: name to template over application variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Environment variables visible to the guest through WASI.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// `[component.<id>.build]`: used by `spin build`, ignored when running.
    #[serde(default)]
    pub build: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: i64,
    application: Application,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, ComponentDecl>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<HttpTrigger>,
    #[serde(default)]
    redis: Vec<RedisTrigger>,
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading manifest {}", path.display()))?;
        let app_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, app_dir).with_context(|| format!("in manifest {}", path.display()))
    }

    /// Parses and validates manifest text; `app_dir` is where relative paths start.
    pub fn parse(text: &str, app_dir: PathBuf) -> Result<Self> {
        let raw: RawManifest = toml::from_str(text).context("invalid spin.toml")?;
        ensure!(
            raw.spin_manifest_version == 2,
            "spin_manifest_version must be 2, found {}",
            raw.spin_manifest_version
        );
        let manifest = Self {
            app_dir,
            application: raw.application,
            variables: raw.variables,
            http_triggers: raw.trigger.http,
            redis_triggers: raw.trigger.redis,
            components: raw.component,
        };
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<()> {
        for (name, decl) in &self.variables {
            validate_name(name).with_context(|| format!("application variable {name:?}"))?;
            // Spin's rule: a variable is either required or has a default, not both.
            ensure!(
                decl.required != decl.default.is_some(),
                "variable {name:?} must be either `required = true` or have a `default`, not both or neither"
            );
        }
        for id in self.components.keys() {
            validate_component_id(id)?;
        }
        for trigger in &self.http_triggers {
            ensure!(
                self.components.contains_key(&trigger.component),
                "trigger for route {:?} names unknown component {:?}",
                trigger.route,
                trigger.component
            );
            if let RouteConfig::Private { private: false } = trigger.route {
                bail!(
                    "route must be a string pattern or '{{ private = true }}': component {:?} has {{ private = false }}",
                    trigger.component
                );
            }
            if let Some(executor) = &trigger.executor {
                let kind = executor.get("type").and_then(toml::Value::as_str);
                ensure!(
                    matches!(kind, None | Some("spin") | Some("http")),
                    "component {:?}: executor {kind:?} is not supported by this host",
                    trigger.component
                );
            }
        }
        for trigger in &self.redis_triggers {
            ensure!(
                self.components.contains_key(&trigger.component),
                "redis trigger for channel {:?} names unknown component {:?}",
                trigger.channel,
                trigger.component
            );
            ensure!(
                trigger.address.is_some() || self.application.trigger.redis.is_some(),
                "redis trigger for channel {:?} has no address and there is no [application.trigger.redis]",
                trigger.channel
            );
        }
        Ok(())
    }

    /// Absolute-or-app-relative path of a component's `.wasm`.
    pub fn component_source(&self, id: &str) -> Option<PathBuf> {
        self.components
            .get(id)
            .map(|c| self.app_dir.join(&c.source))
    }
}

/// Spin's rule for component ids: kebab-case words of lowercase letters and digits.
fn validate_component_id(id: &str) -> Result<()> {
    let valid = !id.is_empty()
        && id.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && id.as_bytes()[0].is_ascii_lowercase();
    ensure!(
        valid,
        "component id {id:?} must be kebab-case (lowercase letters, digits, single hyphens)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "web.wasm"
"#;

    #[test]
    fn a_minimal_manifest_parses() {
        let m = Manifest::parse(MINIMAL, PathBuf::from("/app")).expect("parses");
        assert_eq!(m.application.name, "demo");
        assert_eq!(
            m.component_source("web"),
            Some(PathBuf::from("/app/web.wasm"))
        );
    }

    #[test]
    fn a_trigger_naming_an_unknown_component_is_rejected() {
        let text = MINIMAL.replace("component = \"web\"", "component = \"nope\"");
        let err = Manifest::parse(&text, PathBuf::from(".")).expect_err("must be rejected");
        assert!(format!("{err:#}").contains("unknown component"), "{err:#}");
    }

    const WORKER: &str = r#"
spin_manifest_version = 2
[application]
name = "worker"
[application.trigger.redis]
address = "{{ redis_url }}"
[variables]
redis_url = { required = true }
[[trigger.redis]]
channel = "jobs"
component = "worker"
[component.worker]
source = "worker.wasm"
"#;

    #[test]
    fn redis_triggers_take_the_application_address_or_their_own() {
        let m = Manifest::parse(WORKER, PathBuf::from("/app")).expect("parses");
        assert!(m.http_triggers.is_empty());
        assert_eq!(m.redis_triggers.len(), 1);
        assert_eq!(m.redis_triggers[0].channel, "jobs");
        assert_eq!(
            m.application
                .trigger
                .redis
                .as_ref()
                .map(|r| r.address.as_str()),
            Some("{{ redis_url }}")
        );

        let without_address = WORKER.replace(
            "[application.trigger.redis]\naddress = \"{{ redis_url }}\"\n",
            "",
        );
        let err = Manifest::parse(&without_address, PathBuf::from("/app")).expect_err("no address");
        assert!(format!("{err:#}").contains("no address"), "{err:#}");
        let unknown = WORKER.replace("component = \"worker\"", "component = \"nobody\"");
        assert!(Manifest::parse(&unknown, PathBuf::from("/app")).is_err());
    }

    #[test]
    fn manifest_version_1_is_rejected() {
        let text = MINIMAL.replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert!(Manifest::parse(&text, PathBuf::from(".")).is_err());
    }

    #[test]
    fn a_private_route_set_to_false_is_rejected() {
        let text = MINIMAL.replace("route = \"/...\"", "route = { private = false }");
        assert!(Manifest::parse(&text, PathBuf::from(".")).is_err());
    }

    #[test]
    fn component_ids_must_be_kebab_case() {
        for bad in ["Web", "web_x", "-web", "web-", "web--x", "1web", ""] {
            assert!(validate_component_id(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["web", "web-2", "a-b-c"] {
            assert!(validate_component_id(good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn a_variable_must_be_required_or_defaulted_but_not_both() {
        for decl in [
            "{ required = true, default = \"a\" }",
            "{}",
            "{ secret = true }",
        ] {
            let text = format!("{MINIMAL}\n[variables]\nx = {decl}\n");
            assert!(
                Manifest::parse(&text, PathBuf::from(".")).is_err(),
                "{decl} accepted"
            );
        }
        for decl in ["{ required = true }", "{ default = \"a\", secret = true }"] {
            let text = format!("{MINIMAL}\n[variables]\nx = {decl}\n");
            assert!(
                Manifest::parse(&text, PathBuf::from(".")).is_ok(),
                "{decl} rejected"
            );
        }
    }
}
