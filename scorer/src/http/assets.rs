//! Static files compiled into the binary: the live page and the interactive API docs (vendored Swagger UI, see
//! `assets/swagger-ui/README.md`).

use warp::http::Method;
use warp::path::FullPath;
use warp::reply::{Reply, Response};
use warp::Filter;

use super::RouteTable;

const DOCS_HTML: &str = include_str!("../../assets/docs.html");
const LIVE_HTML: &str = include_str!("../../assets/live.html");

/// (file name under `/docs/`, content type, bytes)
const SWAGGER_FILES: [(&str, &str, &[u8]); 5] = [
    (
        "swagger-ui-bundle.js",
        "application/javascript",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css",
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    ),
    (
        "favicon-32x32.png",
        "image/png",
        include_bytes!("../../assets/swagger-ui/favicon-32x32.png"),
    ),
    (
        "LICENSE",
        "text/plain",
        include_bytes!("../../assets/swagger-ui/LICENSE"),
    ),
    (
        "NOTICE",
        "text/plain",
        include_bytes!("../../assets/swagger-ui/NOTICE"),
    ),
];

/// `GET /` (the live page), `GET /docs` and the files it loads, recorded in `table`.
pub fn routes(
    table: &mut RouteTable,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let page = table
        .route(Method::GET, "/docs")
        .map(|| warp::reply::html(DOCS_HTML).into_response());
    let files = table
        .route(Method::GET, "/docs/{file}")
        .and(warp::path::full())
        .and_then(|path: FullPath| async move {
            let name = path.as_str().trim_start_matches("/docs/");
            SWAGGER_FILES
                .iter()
                .find(|(file, _, _)| *file == name)
                .map(|(_, content_type, bytes)| {
                    warp::reply::with_header(*bytes, "content-type", *content_type).into_response()
                })
                .ok_or_else(warp::reject::not_found)
        });
    let live = table
        .route(Method::GET, "/")
        .map(|| warp::reply::html(LIVE_HTML).into_response());
    live.or(page).unify().or(files).unify()
}
