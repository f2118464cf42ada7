//! Application and component variables, resolved as Spin resolves them:
//! a component reads its own variables, whose values are templates over the
//! application's variables, which come from Spin's providers in its order
//! (`--variable`, the runtime config's `[[variables_provider]]`,
//! `SPIN_VARIABLE_<NAME>`) or from their manifest default.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

/// One entry of `[variables]` in `spin.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    /// Value used when no provider supplies one.
    #[serde(default)]
    pub default: Option<String>,
    /// Start-up fails when no provider supplies a value. Exactly one of
    /// `required` and `default` is set.
    #[serde(default)]
    pub required: bool,
    /// Never logged or shown.
    #[serde(default)]
    pub secret: bool,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// Why a variable read failed; mirrors `fermyon:spin/variables` errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariableError {
    /// The requested name is not a valid variable name.
    #[error("invalid variable name {0}")]
    InvalidName(String),
    /// The component declares no such variable, or it has no value.
    #[error("no variable for {0}")]
    Undefined(String),
}

/// Spin's variable-name rule: lowercase ASCII letters, digits and single
/// underscores, starting with a letter and ending with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), VariableError> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Some("may contain only lower-case letters, numbers, and underscores")
    } else if !name.as_bytes()[0].is_ascii_lowercase() {
        Some("must start with a lowercase ASCII letter")
    } else if !name.as_bytes()[name.len() - 1].is_ascii_alphanumeric() {
        Some("must end with a lowercase ASCII letter or digit")
    } else if name.contains("__") {
        Some("must not contain multiple consecutive underscores")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(VariableError::InvalidName(format!("{name:?}: {reason}"))),
        None => Ok(()),
    }
}

/// A piece of a component-variable template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

/// Parses `"prefix {{ name }} suffix"` into parts.
fn parse_template(template: &str) -> Result<Vec<Part>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Literal(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .with_context(|| format!("unterminated '{{{{' in template {template:?}"))?;
        let name = after[..end].trim();
        validate_name(name).with_context(|| format!("in template {template:?}"))?;
        parts.push(Part::Variable(name.to_owned()));
        rest = &after[end + 2..];
    }
    ensure!(
        !rest.contains("}}"),
        "unmatched '}}}}' in template {template:?}"
    );
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(parts)
}

/// Where application variables get their values, asked in Spin 4.0.2's
/// order (`crates/runtime-factors/src/build.rs`,
/// `crates/runtime-config/src/variables.rs`): the static provider of `spin
/// up --variable` first, then the runtime config's `[[variables_provider]]`
/// entries in file order, then the environment provider, always last. The
/// first provider with a value wins; the declared default answers when none
/// has one.
#[derive(Debug, Clone)]
pub enum Provider {
    /// `--variable` or `type = "static"`: a map read.
    Static(HashMap<String, String>),
    /// `<PREFIX>_<NAME>` from the environment (`SPIN_VARIABLE` unless the
    /// runtime config names another prefix): under Spin every lookup is a
    /// `block_in_place` (`crates/variables-env/src/lib.rs`), hit or miss.
    Environment {
        /// Variable name (lower case) → value, taken from the environment
        /// at start-up.
        values: HashMap<String, String>,
    },
}

impl Provider {
    /// The environment provider for `prefix` over `env`.
    pub fn environment(prefix: &str, env: impl IntoIterator<Item = (String, String)>) -> Self {
        let prefix = format!("{prefix}_");
        Self::Environment {
            values: env
                .into_iter()
                .filter_map(|(key, value)| {
                    key.strip_prefix(&prefix)
                        .map(|name| (name.to_ascii_lowercase(), value))
                })
                .collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&String> {
        match self {
            Self::Static(values) | Self::Environment { values } => values.get(name),
        }
    }
}

/// The sources `spin up --variable` accepts (`crates/variables-static/src/
/// source.rs`): `key=value`, `key=@file` (the file's whole text),
/// `@file.toml` and `@file.json` (maps of names to strings). Several are
/// merged in order, a later value replacing an earlier one, into the one
/// static provider that comes first.
pub fn parse_variable_sources(sources: &[String]) -> Result<HashMap<String, String>> {
    let mut values = HashMap::new();
    for source in sources {
        if let Some(path) = source.strip_prefix('@') {
            let read = || {
                std::fs::read_to_string(path).with_context(|| format!("Failed to read {path:?}."))
            };
            let map: HashMap<String, String> =
                match Path::new(path).extension().and_then(|e| e.to_str()) {
                    Some("json") => serde_json::from_str(&read()?)
                        .with_context(|| format!("Failed to parse JSON from {path:?}."))?,
                    Some("toml") => toml::from_str(&read()?)
                        .with_context(|| format!("Failed to parse TOML from {path:?}."))?,
                    _ => bail!("variable files must end in .json or .toml"),
                };
            values.extend(map);
        } else if let Some((key, value)) = source.split_once('=') {
            let value = match value.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("Failed to read {path:?}."))?,
                None => value.to_owned(),
            };
            values.insert(key.to_owned(), value);
        } else {
            bail!("variables must be in the form 'key=value' or '@file'");
        }
    }
    Ok(values)
}

/// An application variable's value, and what Spin pays to find it: one
/// `block_in_place` for each environment provider asked on the way (every
/// one, when the value is the declared default).
#[derive(Debug, Clone, Default)]
struct Resolved {
    value: String,
    environment_lookups: u64,
}

/// The variables of every component of an application. Component values
/// are expanded from their templates at each read, as Spin does, one
/// provider lookup per reference (see [`Variables::get_with`]), and an
/// instance's first outbound check resolves every application variable
/// (see [`Variables::resolve_all_with`]). (The manifest check guarantees
/// every application variable is required or defaulted.)
#[derive(Debug, Default)]
pub struct Variables {
    /// Application variable → value and lookup cost.
    app: HashMap<String, Resolved>,
    /// Component id → variable name → template, every reference checked.
    by_component: HashMap<String, HashMap<String, Vec<Part>>>,
    /// Environment-provider lookups paid so far, by every instance.
    environment_lookups: AtomicU64,
}

impl Variables {
    /// Resolves every application variable through `providers` (in order)
    /// and checks every component template. Fails, like `spin up`, when a
    /// required variable has no value or a template names an undeclared
    /// application variable.
    pub fn resolve<'a>(
        app_vars: &BTreeMap<String, VariableDecl>,
        components: impl IntoIterator<Item = (&'a String, &'a BTreeMap<String, String>)>,
        providers: &[Provider],
    ) -> Result<Self> {
        let mut app = HashMap::new();
        let mut unresolvable = Vec::new();
        for (name, decl) in app_vars {
            let mut environment_lookups = 0;
            let mut value = None;
            for provider in providers {
                if matches!(provider, Provider::Environment { .. }) {
                    environment_lookups += 1;
                }
                if let Some(found) = provider.get(name) {
                    value = Some(found.clone());
                    break;
                }
            }
            match value.or_else(|| decl.default.clone()) {
                Some(value) => {
                    app.insert(
                        name.clone(),
                        Resolved {
                            value,
                            environment_lookups,
                        },
                    );
                }
                None => unresolvable.push(format!("Key({name:?})")),
            }
        }
        ensure!(
            unresolvable.is_empty(),
            "no provider resolved required variable(s): [{}]",
            unresolvable.join(", ")
        );
        let mut by_component = HashMap::new();
        for (component, templates) in components {
            let mut checked = HashMap::new();
            for (name, template) in templates {
                let context = || format!("component {component:?} variable {name:?}");
                validate_name(name).with_context(context)?;
                let parts = parse_template(template).with_context(context)?;
                for part in &parts {
                    if let Part::Variable(var) = part {
                        ensure!(
                            app.contains_key(var),
                            "{}: refers to undeclared application variable {var:?}",
                            context()
                        );
                    }
                }
                checked.insert(name.clone(), parts);
            }
            by_component.insert(component.clone(), checked);
        }
        Ok(Self {
            app,
            by_component,
            environment_lookups: AtomicU64::new(0),
        })
    }

    /// Expands `{{ name }}` references to application variables in
    /// `template` (Spin allows them in `allowed_outbound_hosts`).
    pub fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::new();
        for part in parse_template(template)? {
            match part {
                Part::Literal(text) => out.push_str(&text),
                Part::Variable(name) => out.push_str(
                    &self
                        .app
                        .get(&name)
                        .with_context(|| {
                            format!(
                                "{template:?} refers to undeclared application variable {name:?}"
                            )
                        })?
                        .value,
                ),
            }
        }
        Ok(out)
    }

    /// What `variables.get(name)` returns to `component`. Each reference
    /// to an application variable is looked up again, as Spin asks its
    /// providers at every read, and `hand_off` runs once per environment
    /// provider that lookup asks: a variable a static provider serves
    /// costs none, one left to its default or to `SPIN_VARIABLE_*` one,
    /// and a literal none.
    pub fn get_with(
        &self,
        component: &str,
        name: &str,
        mut hand_off: impl FnMut(),
    ) -> Result<String, VariableError> {
        validate_name(name)?;
        let parts = self
            .by_component
            .get(component)
            .and_then(|vars| vars.get(name))
            .ok_or_else(|| VariableError::Undefined(format!("{name:?}")))?;
        let mut value = String::new();
        for part in parts {
            match part {
                Part::Literal(text) => value.push_str(text),
                // Checked at start-up: every reference names a resolved variable.
                Part::Variable(var) => {
                    let resolved = self.app.get(var).cloned().unwrap_or_default();
                    self.pay(resolved.environment_lookups, &mut hand_off);
                    value.push_str(&resolved.value);
                }
            }
        }
        Ok(value)
    }

    /// What an instance's first outbound check costs under Spin 4.0.2:
    /// `resolver.prepare()` (`crates/factor-outbound-networking/src/lib.rs`,
    /// `crates/expressions/src/lib.rs`) resolves every application
    /// variable through the providers, whichever component asks.
    pub fn resolve_all_with(&self, mut hand_off: impl FnMut()) {
        for resolved in self.app.values() {
            self.pay(resolved.environment_lookups, &mut hand_off);
        }
    }

    fn pay(&self, lookups: u64, hand_off: &mut impl FnMut()) {
        for _ in 0..lookups {
            hand_off();
        }
        self.environment_lookups
            .fetch_add(lookups, Ordering::Relaxed);
    }

    /// Environment-provider lookups made so far (each a `block_in_place`).
    pub fn environment_lookups(&self) -> u64 {
        self.environment_lookups.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Variables {
        /// The value, every reference looked up directly.
        fn get(&self, component: &str, name: &str) -> Result<String, VariableError> {
            self.get_with(component, name, || ())
        }
    }

    fn decl(default: Option<&str>, required: bool) -> VariableDecl {
        VariableDecl {
            default: default.map(str::to_owned),
            required,
            ..Default::default()
        }
    }

    fn resolve(
        app: &[(&str, VariableDecl)],
        component: &[(&str, &str)],
        provided: &[(&str, &str)],
    ) -> Result<Variables> {
        let app: BTreeMap<_, _> = app
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let comp: BTreeMap<_, _> = component
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let provided = Provider::Environment {
            values: provided
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let id = "c".to_string();
        Variables::resolve(&app, [(&id, &comp)], &[provided])
    }

    #[test]
    fn provided_values_win_over_defaults() {
        let vars = resolve(
            &[("greeting", decl(Some("hi"), false))],
            &[("msg", "{{ greeting }}, world")],
            &[("greeting", "hello")],
        )
        .expect("resolves");
        assert_eq!(vars.get("c", "msg"), Ok("hello, world".to_string()));
    }

    #[test]
    fn defaults_apply_when_nothing_is_provided() {
        let vars = resolve(
            &[("greeting", decl(Some("hi"), false))],
            &[("msg", "{{greeting}}!")],
            &[],
        )
        .expect("resolves");
        assert_eq!(vars.get("c", "msg"), Ok("hi!".to_string()));
    }

    #[test]
    fn a_missing_required_variable_fails_start_up() {
        let err = resolve(&[("key", decl(None, true))], &[("k", "{{ key }}")], &[])
            .expect_err("must be rejected");
        assert_eq!(
            err.to_string(),
            r#"no provider resolved required variable(s): [Key("key")]"#
        );
    }

    #[test]
    fn a_template_naming_an_undeclared_variable_fails_start_up() {
        assert!(resolve(&[], &[("k", "{{ nope }}")], &[]).is_err());
    }

    #[test]
    fn reading_an_undeclared_component_variable_is_undefined() {
        let vars = resolve(&[], &[("k", "literal")], &[]).expect("resolves");
        assert_eq!(vars.get("c", "k"), Ok("literal".to_string()));
        assert!(matches!(
            vars.get("c", "other"),
            Err(VariableError::Undefined(_))
        ));
    }

    #[test]
    fn each_reference_is_one_provider_lookup_and_a_literal_none() {
        let vars = resolve(
            &[("a", decl(Some("1"), false)), ("b", decl(None, true))],
            &[("both", "{{ a }}-{{ b }}-{{ a }}"), ("fixed", "literal")],
            &[("b", "2")],
        )
        .expect("resolves");
        let mut lookups = 0;
        let value = vars.get_with("c", "both", || lookups += 1);
        assert_eq!((value.as_deref(), lookups), (Ok("1-2-1"), 3));
        let mut lookups = 0;
        let value = vars.get_with("c", "fixed", || lookups += 1);
        assert_eq!((value.as_deref(), lookups), (Ok("literal"), 0));
        assert_eq!(vars.environment_lookups(), 3);
    }

    #[test]
    fn the_first_provider_with_a_value_wins_and_environment_lookups_are_counted() {
        let app: BTreeMap<_, _> = [
            ("a".to_string(), decl(Some("default-a"), false)),
            ("b".to_string(), decl(Some("default-b"), false)),
            ("c".to_string(), decl(Some("default-c"), false)),
        ]
        .into();
        let comp: BTreeMap<_, _> = [
            ("a".to_string(), "{{ a }}".to_string()),
            ("b".to_string(), "{{ b }}".to_string()),
            ("c".to_string(), "{{ c }}".to_string()),
        ]
        .into();
        let flag = Provider::Static([("a".to_string(), "flag".to_string())].into());
        let config = Provider::Static(
            [
                ("a".to_string(), "config".to_string()),
                ("b".to_string(), "config".to_string()),
            ]
            .into(),
        );
        let env = Provider::environment(
            "SPIN_VARIABLE",
            [
                ("SPIN_VARIABLE_A".to_string(), "env".to_string()),
                ("SPIN_VARIABLE_B".to_string(), "env".to_string()),
            ],
        );
        let id = "c".to_string();
        let vars =
            Variables::resolve(&app, [(&id, &comp)], &[flag, config, env]).expect("resolves");
        let read = |name| {
            let mut lookups = 0;
            let value = vars.get_with("c", name, || lookups += 1).expect("defined");
            (value, lookups)
        };

        assert_eq!(read("a"), ("flag".to_string(), 0));
        assert_eq!(read("b"), ("config".to_string(), 0));
        // Nothing provides `c`: the environment is asked, then the default answers.
        assert_eq!(read("c"), ("default-c".to_string(), 1));
        let mut all = 0;
        vars.resolve_all_with(|| all += 1);
        assert_eq!(
            all, 1,
            "resolving everything asks the environment for `c` only"
        );
    }

    #[test]
    fn variable_sources_take_spins_four_forms_and_later_ones_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("key.txt");
        std::fs::write(&file, "secret\n").expect("write");
        let toml_file = dir.path().join("v.toml");
        std::fs::write(&toml_file, "a = \"toml\"\nb = \"toml\"\n").expect("write");
        let json_file = dir.path().join("v.json");
        std::fs::write(&json_file, r#"{"b": "json"}"#).expect("write");

        let values = parse_variable_sources(&[
            format!("@{}", toml_file.display()),
            format!("@{}", json_file.display()),
            format!("k=@{}", file.display()),
            "x=1=2".to_string(),
        ])
        .expect("parses");

        assert_eq!(values["a"], "toml");
        assert_eq!(values["b"], "json");
        assert_eq!(
            values["k"], "secret\n",
            "a file's whole text, newline included"
        );
        assert_eq!(values["x"], "1=2");
        for bad in ["nope", "@file.yaml"] {
            assert!(parse_variable_sources(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_expand_to_application_values() {
        let vars =
            resolve(&[("db_host", decl(Some("db:5432"), false))], &[], &[]).expect("resolves");
        assert_eq!(
            vars.expand("postgres://{{ db_host }}").expect("expands"),
            "postgres://db:5432"
        );
        assert!(vars.expand("postgres://{{ nope }}").is_err());
    }

    #[test]
    fn invalid_names_are_rejected_with_spins_rules() {
        for bad in ["", "Upper", "1x", "x_", "a__b", "a-b", "a b"] {
            assert!(
                matches!(validate_name(bad), Err(VariableError::InvalidName(_))),
                "{bad:?} accepted"
            );
        }
        for good in ["a", "a1", "a_b", "database_url"] {
            assert!(validate_name(good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn environment_names_map_to_lowercase_variables() {
        let provider = Provider::environment(
            "SPIN_VARIABLE",
            [
                ("SPIN_VARIABLE_DATABASE_URL".to_string(), "x".to_string()),
                ("PATH".to_string(), "/bin".to_string()),
            ],
        );
        assert_eq!(provider.get("database_url").map(String::as_str), Some("x"));
        assert_eq!(provider.get("path"), None);
    }
}
