//! The runtime configuration file (`runtime-config.toml`) as `spin up
//! --runtime-config-file` reads it: where each key-value store and SQLite
//! database label lives. Spin's embedded `type = "spin"` backends, and
//! `type = "redis"` for key-value; other backends (libSQL, Azure Cosmos,
//! AWS DynamoDB) run under real Spin.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// File name Spin gives the default key-value store inside the state directory.
const DEFAULT_KV_FILE: &str = "sqlite_key_value.db";
/// File name Spin gives the default SQLite database inside the state directory.
const DEFAULT_SQLITE_FILE: &str = "sqlite_db.db";

/// Where a SQLite-backed store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A database file.
    File(PathBuf),
    /// A private in-memory database (a label configured without `path`).
    InMemory,
}

/// Where a key-value label keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValueLocation {
    /// Spin's embedded store (`type = "spin"`): a SQLite table.
    Embedded(Location),
    /// A Redis server (`type = "redis"`), the URL already validated as
    /// Spin validates it when it loads the file.
    Redis(String),
}

/// Resolved runtime configuration: label → location, for both kinds of store.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Key-value store labels.
    pub key_value_stores: BTreeMap<String, KeyValueLocation>,
    /// SQLite database labels.
    pub sqlite_databases: BTreeMap<String, Location>,
    /// `[[variables_provider]]` entries in file order; the environment
    /// provider Spin always appends is not among them.
    pub variables_providers: Vec<ConfiguredProvider>,
}

/// A `[[variables_provider]]` entry the host can serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfiguredProvider {
    /// `type = "static"`.
    Static(HashMap<String, String>),
    /// `type = "env"` with its prefix.
    Environment {
        /// `prefix`, `SPIN_VARIABLE` when not given.
        prefix: String,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRuntimeConfig {
    #[serde(default)]
    state_dir: Option<PathBuf>,
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStore>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawStore>,
    /// `[[variables_provider]]` (Spin also reads the older name).
    #[serde(default, alias = "config_provider")]
    variables_provider: Vec<RawVariablesProvider>,
}

/// One `[[variables_provider]]` entry, as Spin's
/// `VariableProviderConfiguration` reads it.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawVariablesProvider {
    /// `values = { name = "value", … }`.
    Static {
        #[serde(default)]
        values: HashMap<String, String>,
    },
    /// `prefix = "…"` (default `SPIN_VARIABLE`).
    Env {
        #[serde(default)]
        prefix: Option<String>,
        #[serde(default)]
        dotenv_path: Option<PathBuf>,
    },
    /// HashiCorp Vault: only real Spin reaches it.
    Vault {},
    /// Azure Key Vault: only real Spin reaches it.
    AzureKeyVault {},
}

/// Keys of other backends are accepted here and refused by type below.
#[derive(Deserialize)]
struct RawStore {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<PathBuf>,
    /// `type = "redis"`: the server's URL.
    #[serde(default)]
    url: Option<String>,
}

impl RuntimeConfig {
    /// Spin's defaults with no file: both `default` labels in `<app_dir>/.spin/`.
    pub fn defaults(app_dir: &Path) -> Self {
        Self::resolve(RawRuntimeConfig::default(), app_dir, app_dir)
            .expect("the empty configuration is valid")
    }

    /// Reads `path`. Relative store paths resolve against the file's directory;
    /// the state directory defaults to `<app_dir>/.spin`.
    pub fn from_file(path: &Path, app_dir: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading runtime config {}", path.display()))?;
        let raw: RawRuntimeConfig = toml::from_str(&text)
            .with_context(|| format!("invalid runtime config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::resolve(raw, base, app_dir)
    }

    fn resolve(raw: RawRuntimeConfig, base: &Path, app_dir: &Path) -> Result<Self> {
        let state_dir = match raw.state_dir {
            Some(dir) => base.join(dir),
            None => app_dir.join(".spin"),
        };
        let embedded = |path: Option<PathBuf>| match path {
            Some(path) => Location::File(base.join(path)),
            None => Location::InMemory,
        };
        let mut key_value_stores = raw
            .key_value_store
            .into_iter()
            .map(|(label, store)| {
                let location = match store.kind.as_str() {
                    "spin" => KeyValueLocation::Embedded(embedded(store.path)),
                    "redis" => KeyValueLocation::Redis(redis_url(&label, store.url)?),
                    other => bail!(
                        "key_value_store {label:?} has type {other:?}; this host implements types \"spin\" and \"redis\" (run the app with `spin up` for other backends)"
                    ),
                };
                Ok((label, location))
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        let mut sqlite_databases = raw
            .sqlite_database
            .into_iter()
            .map(|(label, store)| {
                if store.kind != "spin" {
                    bail!(
                        "sqlite_database {label:?} has type {:?}; this host implements only type \"spin\" (run the app with `spin up` for other backends)",
                        store.kind
                    );
                }
                Ok((label, embedded(store.path)))
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        key_value_stores.entry("default".into()).or_insert_with(|| {
            KeyValueLocation::Embedded(Location::File(state_dir.join(DEFAULT_KV_FILE)))
        });
        sqlite_databases
            .entry("default".into())
            .or_insert_with(|| Location::File(state_dir.join(DEFAULT_SQLITE_FILE)));
        let variables_providers = raw
            .variables_provider
            .into_iter()
            .map(|provider| match provider {
                RawVariablesProvider::Static { values } => Ok(ConfiguredProvider::Static(values)),
                RawVariablesProvider::Env {
                    prefix,
                    dotenv_path: None,
                } => Ok(ConfiguredProvider::Environment {
                    prefix: prefix.unwrap_or_else(|| "SPIN_VARIABLE".into()),
                }),
                RawVariablesProvider::Env { .. } => {
                    bail!("variables_provider type \"env\" with dotenv_path: run the app with `spin up`")
                }
                RawVariablesProvider::Vault {} | RawVariablesProvider::AzureKeyVault {} => bail!(
                    "this host implements variables_provider types \"static\" and \"env\" (run the app with `spin up` for vault and azure_key_vault)"
                ),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            key_value_stores,
            sqlite_databases,
            variables_providers,
        })
    }
}

/// A Redis label's `url`, required and parsed as Spin parses it
/// (`redis::parse_redis_url`), so a URL Spin refuses at start is refused here.
fn redis_url(label: &str, url: Option<String>) -> Result<String> {
    let url =
        url.with_context(|| format!("key_value_store {label:?}: type \"redis\" needs a `url`"))?;
    if redis::parse_redis_url(&url).is_none() {
        bail!("key_value_store {label:?}: Invalid Redis URL {url:?}");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeConfig> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("runtime-config.toml");
        std::fs::write(&path, text).expect("write");
        RuntimeConfig::from_file(&path, Path::new("/app"))
    }

    #[test]
    fn default_labels_live_in_the_state_directory() {
        let config = RuntimeConfig::defaults(Path::new("/app"));
        assert_eq!(
            config.key_value_stores["default"],
            KeyValueLocation::Embedded(Location::File("/app/.spin/sqlite_key_value.db".into()))
        );
        assert_eq!(
            config.sqlite_databases["default"],
            Location::File("/app/.spin/sqlite_db.db".into())
        );
    }

    #[test]
    fn configured_paths_override_the_defaults() {
        let config = parse(
            r#"
[key_value_store.default]
type = "spin"
path = "/data/kv.db"
[sqlite_database.default]
type = "spin"
path = "/data/app.db"
[sqlite_database.scratch]
type = "spin"
"#,
        )
        .expect("parses");
        assert_eq!(
            config.key_value_stores["default"],
            KeyValueLocation::Embedded(Location::File("/data/kv.db".into()))
        );
        assert_eq!(config.sqlite_databases["scratch"], Location::InMemory);
    }

    #[test]
    fn redis_key_value_stores_keep_their_url() {
        let config =
            parse("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://cache:6380/2\"\n")
                .expect("parses");
        assert_eq!(
            config.key_value_stores["default"],
            KeyValueLocation::Redis("redis://cache:6380/2".into())
        );
    }

    #[test]
    fn a_redis_store_without_a_valid_url_is_refused_at_load() {
        for text in [
            "[key_value_store.default]\ntype = \"redis\"\n",
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"http://cache\"\n",
        ] {
            let err = parse(text).expect_err("must be rejected");
            assert!(
                format!("{err:#}").contains("url") || format!("{err:#}").contains("URL"),
                "{err:#}"
            );
        }
    }

    #[test]
    fn other_backends_are_refused_with_a_pointer_to_spin() {
        let err = parse("[key_value_store.cache]\ntype = \"azure_cosmos\"\n")
            .expect_err("must be rejected");
        assert!(format!("{err:#}").contains("spin up"), "{err:#}");
        let err = parse("[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://x\"\n")
            .expect_err("must be rejected");
        assert!(
            format!("{err:#}").contains("implements only type \"spin\""),
            "{err:#}"
        );
    }
}
