//! The one dispatcher every component uses: a table of (method, path
//! pattern, handler), `404` when no pattern matches, `405` with an `Allow`
//! header derived from the same table when the path matches but the method
//! does not. Spin SDK's `Router` answers plain 404/405 without `Allow` or
//! problem+json, so it is not used.

use spin_sdk::http::{Method, Request, Response};

use crate::problem::ApiError;
use crate::response::respond;

/// Values captured by `:name` segments of the matched pattern.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The segment captured as `:name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A route's handler.
pub type Handler = fn(&Request, &Params) -> Result<Response, ApiError>;

/// One row of a routing table.
pub struct Route {
    /// The method it answers.
    pub method: Method,
    /// `/users/:id`: literal segments, and `:name` capturing one segment.
    pub pattern: &'static str,
    /// What answers it.
    pub handler: Handler,
}

/// A table row, for `const` tables.
pub const fn route(method: Method, pattern: &'static str, handler: Handler) -> Route {
    Route {
        method,
        pattern,
        handler,
    }
}

/// `pattern` matched against `path` (trailing slash ignored): the captures,
/// or `None`.
fn matches(pattern: &'static str, path: &str) -> Option<Params> {
    let path = path.trim_end_matches('/');
    let mut wanted = pattern.trim_end_matches('/').split('/');
    let mut given = path.split('/');
    let mut params = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(Params(params)),
            (Some(w), Some(g)) => match w.strip_prefix(':') {
                Some(name) if !g.is_empty() => params.push((name, g.to_owned())),
                None if w == g => {}
                _ => return None,
            },
            _ => return None,
        }
    }
}

/// Answers `req` from `routes`. The first pattern (in table order) that
/// matches the path decides: list literal patterns (`/users/me`) before
/// captures (`/users/:id`).
pub fn dispatch(routes: &[Route], req: &Request) -> Response {
    respond(answer(routes, req))
}

fn answer(routes: &[Route], req: &Request) -> Result<Response, ApiError> {
    let path = req.path();
    let Some((pattern, params)) = routes
        .iter()
        .find_map(|r| matches(r.pattern, path).map(|params| (r.pattern, params)))
    else {
        return Err(ApiError::NotFound);
    };
    let same_resource = || routes.iter().filter(move |r| r.pattern == pattern);
    // What a preflight's answer and a 405's `Allow` both list.
    let allowed = || {
        same_resource()
            .map(|r| r.method.clone())
            .collect::<Vec<Method>>()
    };
    if crate::cors::is_preflight(req) {
        return crate::cors::preflight(req, &allowed());
    }
    match same_resource().find(|r| r.method == *req.method()) {
        Some(route) => (route.handler)(req, &params),
        None => Err(ApiError::MethodNotAllowed { allow: allowed() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(_: &Request, params: &Params) -> Result<Response, ApiError> {
        let id = params.get("id").unwrap_or("-").to_owned();
        Ok(Response::builder().status(200).body(id).build())
    }

    fn me(_: &Request, _: &Params) -> Result<Response, ApiError> {
        Ok(Response::builder().status(200).body("me").build())
    }

    const ROUTES: &[Route] = &[
        Route {
            method: Method::Get,
            pattern: "/users/me",
            handler: me,
        },
        Route {
            method: Method::Get,
            pattern: "/users/:id",
            handler: named,
        },
        Route {
            method: Method::Delete,
            pattern: "/users/:id",
            handler: named,
        },
    ];

    fn answer_to(method: Method, path: &str) -> Response {
        dispatch(ROUTES, &Request::builder().method(method).uri(path).build())
    }

    #[test]
    fn the_first_matching_pattern_answers_with_its_captures() {
        assert_eq!(answer_to(Method::Get, "/users/me").body(), b"me");
        let root = [route(Method::Get, "/", me)];
        let req = Request::builder().method(Method::Get).uri("/").build();
        assert_eq!(dispatch(&root, &req).body(), b"me", "the root path");
        assert_eq!(answer_to(Method::Get, "/users/me/").body(), b"me");
        assert_eq!(answer_to(Method::Get, "/users/42").body(), b"42");
        assert_eq!(answer_to(Method::Delete, "/users/42").body(), b"42");
    }

    #[test]
    fn unmatched_paths_are_404_and_other_methods_405_with_allow_from_the_table() {
        for path in ["/users", "/users/", "/users/1/2", "/other"] {
            assert_eq!(*answer_to(Method::Get, path).status(), 404, "{path}");
        }
        let other = answer_to(Method::Post, "/users/42");
        assert_eq!(*other.status(), 405);
        let allow = other.header("allow").and_then(|v| v.as_str());
        assert_eq!(allow, Some("GET, HEAD, DELETE"));
        let me = answer_to(Method::Delete, "/users/me");
        assert_eq!(
            me.header("allow").and_then(|v| v.as_str()),
            Some("GET, HEAD"),
            "the most specific pattern decides"
        );
    }
}
