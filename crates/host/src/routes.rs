//! Route matching with Spin's rules, on the same `routefinder` crate Spin uses:
//! exact routes beat wildcards, `:name` segments capture, a trailing `/...`
//! matches any suffix, the most specific match wins, and private routes are
//! never reachable from outside.

use std::collections::HashMap;

use anyhow::{Result, anyhow};

use crate::manifest::{HttpTrigger, RouteConfig};

/// Spin answers these itself; application routes may not use the prefix.
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

#[derive(Debug, Clone)]
struct Handler {
    component: String,
    /// The route as written in the manifest, made absolute.
    raw_route: String,
    /// The route with one trailing slash removed, as Spin matches it.
    based_route: String,
}

/// Routes request paths to component ids.
#[derive(Debug)]
pub struct Router {
    inner: routefinder::Router<Handler>,
}

/// The outcome of routing one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The component that serves the request.
    pub component: String,
    /// The route as Spin matched it, trailing slash removed (`spin-matched-route`).
    pub matched_route: String,
    /// The route as written in the manifest (`spin-raw-component-route`).
    pub raw_route: String,
    /// The route without a trailing `/...` (`spin-component-route`).
    pub route_prefix: String,
    /// The part of the path a trailing wildcard matched (`spin-path-info`).
    pub path_info: String,
    /// `:name` captures.
    pub params: HashMap<String, String>,
}

impl Router {
    /// Builds the router from a manifest's HTTP triggers. A later duplicate of
    /// a route replaces an earlier one, as in Spin.
    pub fn build<'a>(triggers: impl IntoIterator<Item = &'a HttpTrigger>) -> Result<Self> {
        let mut routes: Vec<(String, String)> = Vec::new();
        for trigger in triggers {
            let RouteConfig::Route(route) = &trigger.route else {
                continue; // private: not routable
            };
            let route = absolutize(route);
            if route.starts_with(WELL_KNOWN_PREFIX) {
                return Err(anyhow!(
                    "route {route:?} is under Spin's reserved prefix {WELL_KNOWN_PREFIX}"
                ));
            }
            routes.retain(|(existing, _)| *existing != route);
            routes.push((route, trigger.component.clone()));
        }
        let mut inner = routefinder::Router::new();
        for (raw_route, component) in routes {
            let based_route = strip_trailing_slash(&raw_route).to_owned();
            let spec = match based_route.strip_suffix("/...") {
                Some(prefix) => format!("{prefix}/*"),
                None => based_route.clone(),
            };
            inner
                .add(
                    spec.as_str(),
                    Handler {
                        component: component.clone(),
                        raw_route: raw_route.clone(),
                        based_route,
                    },
                )
                .map_err(|e| anyhow!("route {raw_route:?} of component {component:?}: {e}"))?;
        }
        Ok(Self { inner })
    }

    /// Finds the component for `path`, or `None` (Spin answers 404).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let found = self.inner.best_match(path)?;
        let handler = found.handler();
        let captures = found.captures();
        let path_info = captures
            .wildcard()
            .map(|rest| {
                // Spin keeps the trailing slash that routefinder drops.
                match (rest.is_empty(), path.ends_with('/')) {
                    (true, false) => String::new(),
                    (true, true) => "/".to_owned(),
                    (false, false) => format!("/{rest}"),
                    (false, true) => format!("/{rest}/"),
                }
            })
            .unwrap_or_default();
        let params = captures
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let route_prefix = handler
            .raw_route
            .strip_suffix("/...")
            .unwrap_or(&handler.raw_route)
            .to_owned();
        Some(RouteMatch {
            component: handler.component.clone(),
            matched_route: handler.based_route.clone(),
            raw_route: handler.raw_route.clone(),
            route_prefix,
            path_info,
            params,
        })
    }
}

fn absolutize(route: &str) -> String {
    if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    }
}

/// Spin strips one trailing slash from a route before matching.
fn strip_trailing_slash(route: &str) -> &str {
    route.strip_suffix('/').unwrap_or(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let triggers: Vec<HttpTrigger> = routes
            .iter()
            .map(|(route, component)| HttpTrigger {
                id: None,
                route: if *route == "private" {
                    RouteConfig::Private { private: true }
                } else {
                    RouteConfig::Route(route.to_string())
                },
                component: component.to_string(),
                executor: None,
            })
            .collect();
        Router::build(&triggers).expect("router builds")
    }

    fn component_for(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_routes_win_over_wildcards() {
        let r = router(&[("/...", "catchall"), ("/users", "users")]);
        assert_eq!(component_for(&r, "/users").as_deref(), Some("users"));
        assert_eq!(component_for(&r, "/other").as_deref(), Some("catchall"));
    }

    #[test]
    fn the_longest_wildcard_prefix_wins() {
        let r = router(&[("/api/...", "api"), ("/api/users/...", "users")]);
        assert_eq!(component_for(&r, "/api/users/7").as_deref(), Some("users"));
        assert_eq!(component_for(&r, "/api/tasks").as_deref(), Some("api"));
    }

    #[test]
    fn named_segments_capture_parameters() {
        let r = router(&[("/users/:id", "users")]);
        let m = r.route("/users/42").expect("matches");
        assert_eq!(m.params.get("id").map(String::as_str), Some("42"));
        assert!(r.route("/users/42/extra").is_none());
    }

    #[test]
    fn wildcards_report_path_info_with_spins_slash_rules() {
        let r = router(&[("/static/...", "files")]);
        let cases = [
            ("/static", ""),
            ("/static/", "/"),
            ("/static/a/b", "/a/b"),
            ("/static/a/", "/a/"),
        ];
        for (path, info) in cases {
            let m = r.route(path).unwrap_or_else(|| panic!("{path} matches"));
            assert_eq!(m.path_info, info, "path info of {path}");
            assert_eq!(m.route_prefix, "/static");
        }
    }

    #[test]
    fn private_routes_are_unreachable() {
        let r = router(&[("private", "drain"), ("/", "root")]);
        assert_eq!(component_for(&r, "/").as_deref(), Some("root"));
        assert_eq!(component_for(&r, "/drain"), None);
    }

    #[test]
    fn unmatched_paths_find_nothing() {
        let r = router(&[("/healthz", "health")]);
        assert_eq!(component_for(&r, "/nope"), None);
    }

    #[test]
    fn a_later_duplicate_route_replaces_the_earlier() {
        let r = router(&[("/x", "first"), ("/x", "second")]);
        assert_eq!(component_for(&r, "/x").as_deref(), Some("second"));
    }

    #[test]
    fn routes_under_the_reserved_prefix_are_refused() {
        let triggers = [HttpTrigger {
            id: None,
            route: RouteConfig::Route("/.well-known/spin/x".into()),
            component: "c".into(),
            executor: None,
        }];
        assert!(Router::build(&triggers).is_err());
    }
}
