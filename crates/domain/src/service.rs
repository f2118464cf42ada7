//! What the service says about itself at `GET /`.

use serde::Serialize;

/// Name and version of the running service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    /// Service name, configurable so a deployment can brand it.
    pub name: String,
    /// The release, from the crate version.
    pub version: &'static str,
}

impl ServiceInfo {
    /// Info for `name` at this build's version.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_carries_the_build_version() {
        let info = ServiceInfo::new("spin-users");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        let json = serde_json::to_value(&info).expect("serialises");
        assert_eq!(json["name"], "spin-users");
    }
}
