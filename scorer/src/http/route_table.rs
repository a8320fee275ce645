//! One table of the routes the server answers: the router is built from it, and a 405's `Allow`
//! header is read from it, so the two cannot drift.

use warp::http::Method;
use warp::path::FullPath;
use warp::{Filter, Rejection};

/// The routes this server answers, as method and path template (`{name}` stands for one path
/// segment). Routes are only made through [`RouteTable::route`], which records them, so the
/// router and the `Allow` header of a 405 read the same table.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<(Method, &'static str)>,
}

/// A request for a routed path with a method the path does not answer.
#[derive(Debug)]
pub(super) struct WrongMethod {
    pub(super) path: String,
}

impl warp::reject::Reject for WrongMethod {}

impl RouteTable {
    /// Records a route and returns the filter that passes its requests. It rejects other paths as
    /// not found, and this path with another method as [`WrongMethod`].
    pub fn route(
        &mut self,
        method: Method,
        template: &'static str,
    ) -> impl Filter<Extract = (), Error = Rejection> + Clone {
        self.routes.push((method.clone(), template));
        warp::path::full()
            .and(warp::method())
            .and_then(move |path: FullPath, asked: Method| {
                let outcome = if !path_matches(template, path.as_str()) {
                    Err(warp::reject::not_found())
                } else if asked != method {
                    Err(warp::reject::custom(WrongMethod {
                        path: path.as_str().to_owned(),
                    }))
                } else {
                    Ok(())
                };
                std::future::ready(outcome)
            })
            .untuple_one()
    }

    /// The methods routed for `path`, as the value of an `Allow` header (`GET, POST`).
    pub(super) fn allow(&self, path: &str) -> String {
        let mut methods: Vec<&str> = self
            .routes
            .iter()
            .filter(|(_, template)| path_matches(template, path))
            .map(|(method, _)| method.as_str())
            .collect();
        methods.sort_unstable();
        methods.dedup();
        methods.join(", ")
    }
}

/// Whether `path` fits `template` segment by segment; `{…}` fits any one non-empty segment.
fn path_matches(template: &str, path: &str) -> bool {
    let mut expected = template.split('/');
    let mut actual = path.split('/');
    loop {
        match (expected.next(), actual.next()) {
            (None, None) => return true,
            (Some(e), Some(a)) if e == a || (e.starts_with('{') && !a.is_empty()) => {}
            _ => return false,
        }
    }
}
