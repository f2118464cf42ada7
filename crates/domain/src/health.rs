//! Readiness: the result of checking each dependency the service needs
//! before it can take traffic.

use std::collections::BTreeMap;

use serde::Serialize;

/// The outcome of one dependency check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The dependency answered.
    Up,
    /// The dependency failed; the service should not take traffic.
    Down,
}

/// One dependency check, as reported to operators. `detail` is a fixed,
/// safe sentence: the underlying error goes to the log, never to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Up or down.
    pub status: CheckStatus,
    /// Why it is down, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
}

impl Check {
    /// A passing check.
    pub fn up() -> Self {
        Self {
            status: CheckStatus::Up,
            detail: None,
        }
    }

    /// A failing check with a client-safe reason.
    pub fn down(detail: &'static str) -> Self {
        Self {
            status: CheckStatus::Down,
            detail: Some(detail),
        }
    }

    /// A check from the result of probing a dependency: any error is down
    /// with `detail`; the error itself is for the caller to log.
    pub fn from_result<T, E>(result: &Result<T, E>, detail: &'static str) -> Self {
        match result {
            Ok(_) => Self::up(),
            Err(_) => Self::down(detail),
        }
    }
}

/// All dependency checks, keyed by dependency name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Readiness {
    checks: BTreeMap<&'static str, Check>,
}

impl Readiness {
    /// No checks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the check for `dependency`.
    pub fn with(mut self, dependency: &'static str, check: Check) -> Self {
        self.checks.insert(dependency, check);
        self
    }

    /// Ready only when every check is up (and vacuously with none).
    pub fn is_ready(&self) -> bool {
        self.checks.values().all(|c| c.status == CheckStatus::Up)
    }

    /// The checks, by dependency name.
    pub fn checks(&self) -> &BTreeMap<&'static str, Check> {
        &self.checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn readiness_with_every_check_up_is_ready() {
        let r = Readiness::new()
            .with("database", Check::up())
            .with("cache", Check::up());
        assert!(r.is_ready());
    }

    #[test]
    fn one_failing_check_makes_the_service_not_ready() {
        let r = Readiness::new()
            .with("database", Check::up())
            .with("cache", Check::down("key-value store unavailable"));
        assert!(!r.is_ready());
    }

    #[test]
    fn a_failed_result_becomes_a_down_check_without_the_error_text() {
        let failed: Result<(), String> = Err("disk I/O error at /secret/path".into());
        let check = Check::from_result(&failed, "database unavailable");
        assert_eq!(check, Check::down("database unavailable"));
        let json = serde_json::to_string(&check).expect("serialises");
        assert!(!json.contains("/secret/path"), "{json}");
    }

    #[test]
    fn checks_serialise_as_lowercase_status_and_omit_empty_detail() {
        let r = Readiness::new().with("database", Check::up());
        let json = serde_json::to_value(r.checks()).expect("serialises");
        assert_eq!(json, serde_json::json!({"database": {"status": "up"}}));
    }

    proptest! {
        #[test]
        fn ready_exactly_when_no_check_is_down(statuses in proptest::collection::vec(any::<bool>(), 0..8)) {
            const NAMES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];
            let r = statuses.iter().enumerate().fold(Readiness::new(), |r, (i, up)| {
                r.with(NAMES[i], if *up { Check::up() } else { Check::down("x") })
            });
            prop_assert_eq!(r.is_ready(), statuses.iter().all(|up| *up));
        }
    }
}
