//! Application and component variables, resolved as Spin resolves them:
//! a component reads its own variables, whose values are templates over the
//! application's variables, which come from `SPIN_VARIABLE_<NAME>` in the
//! environment or from their manifest default.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, ensure};
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

/// The variables of every component of an application. Application values
/// are fixed at start-up, as with Spin's environment provider; component
/// values are expanded from their templates at each read, as Spin does, one
/// provider lookup per reference (see [`Variables::get_with`]). (The
/// manifest check guarantees every application variable is required or
/// defaulted.)
#[derive(Debug, Clone, Default)]
pub struct Variables {
    /// Application variable → value.
    app: HashMap<String, String>,
    /// Component id → variable name → template, every reference checked.
    by_component: HashMap<String, HashMap<String, Vec<Part>>>,
}

impl Variables {
    /// Resolves every application variable and checks every component
    /// template. `provided` holds provider values by application-variable
    /// name (see [`from_environment`]). Fails, like `spin up`, when a
    /// required variable has no value or a template names an undeclared
    /// application variable.
    pub fn resolve<'a>(
        app_vars: &BTreeMap<String, VariableDecl>,
        components: impl IntoIterator<Item = (&'a String, &'a BTreeMap<String, String>)>,
        provided: &HashMap<String, String>,
    ) -> Result<Self> {
        let mut app = HashMap::new();
        for (name, decl) in app_vars {
            let value = provided
                .get(name)
                .or(decl.default.as_ref())
                .with_context(|| {
                    format!(
                        "required variable {name:?} has no value: set SPIN_VARIABLE_{}",
                        name.to_ascii_uppercase()
                    )
                })?;
            app.insert(name.clone(), value.clone());
        }
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
        Ok(Self { app, by_component })
    }

    /// Expands `{{ name }}` references to application variables in
    /// `template` (Spin allows them in `allowed_outbound_hosts`).
    pub fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::new();
        for part in parse_template(template)? {
            match part {
                Part::Literal(text) => out.push_str(&text),
                Part::Variable(name) => out.push_str(self.app.get(&name).with_context(|| {
                    format!("{template:?} refers to undeclared application variable {name:?}")
                })?),
            }
        }
        Ok(out)
    }

    /// What `variables.get(name)` returns to `component`, each reference to
    /// an application variable answered by `lookup` (given its value): Spin
    /// asks its providers once per reference, its environment provider
    /// through `block_in_place`, so a template of four references costs
    /// four such calls and a literal none.
    pub fn get_with(
        &self,
        component: &str,
        name: &str,
        mut lookup: impl FnMut(&str) -> String,
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
                Part::Variable(var) => value.push_str(&lookup(
                    self.app.get(var).map(String::as_str).unwrap_or_default(),
                )),
            }
        }
        Ok(value)
    }
}

/// Provider values from `SPIN_VARIABLE_<NAME>` entries of an environment.
pub fn from_environment(
    env: impl IntoIterator<Item = (String, String)>,
) -> HashMap<String, String> {
    env.into_iter()
        .filter_map(|(key, value)| {
            key.strip_prefix("SPIN_VARIABLE_")
                .map(|name| (name.to_ascii_lowercase(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Variables {
        /// The value, every reference looked up directly.
        fn get(&self, component: &str, name: &str) -> Result<String, VariableError> {
            self.get_with(component, name, str::to_owned)
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
        let provided = provided
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let id = "c".to_string();
        Variables::resolve(&app, [(&id, &comp)], &provided)
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
        assert!(err.to_string().contains("SPIN_VARIABLE_KEY"), "{err}");
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
        let value = vars.get_with("c", "both", |v| {
            lookups += 1;
            v.to_owned()
        });
        assert_eq!((value.as_deref(), lookups), (Ok("1-2-1"), 3));
        let mut lookups = 0;
        let value = vars.get_with("c", "fixed", |v| {
            lookups += 1;
            v.to_owned()
        });
        assert_eq!((value.as_deref(), lookups), (Ok("literal"), 0));
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
        let vars = from_environment([
            ("SPIN_VARIABLE_DATABASE_URL".to_string(), "x".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ]);
        assert_eq!(vars.get("database_url").map(String::as_str), Some("x"));
        assert_eq!(vars.len(), 1);
    }
}
