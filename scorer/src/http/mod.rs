//! The HTTP side of a replica (warp on hyper). Everything it serves comes from the binary itself —
//! no CDN — because payment networks often have no internet:
//!
//! | route | what | token |
//! |---|---|---|
//! | `GET /metrics` | Prometheus metrics | open |
//! | `GET /healthz` | alive | open |
//! | `GET /readyz` | ready to score: the model is loaded (partitions held or not) | open |
//! | `POST /v1/score` | score one transaction or an array (JSON) | with `--api-token-file` |
//! | `GET /v1/model` | the live and shadow models: versions, thresholds, when and whence each arrived; the models topic's version history | with `--api-token-file` |
//! | `GET /openapi.json` | OpenAPI 3 description, generated from the Rust types | open |
//! | `GET /docs` | interactive API docs (vendored Swagger UI) | open |
//! | `GET /` | the live page; `GET /api/live` its data (account ids masked unless `--live-show-ids`) | page open; data with `--api-token-file` |
//! | `GET /api/review` | the review queue: REVIEW verdicts not yet marked, with the account's recent history | with `--api-token-file` |
//! | `POST /v1/labels` | an analyst marks one of them fraud or legit: its label goes to the labels topic | with `--api-token-file` |
//!
//! Every route is registered in one [`RouteTable`]: a request for a known path with another method
//! is a 405 whose `Allow` header lists the methods the table holds for that path. The server
//! ([`serve`]) bounds connections, requests in flight, request heads and bodies, and the time to
//! send them (docs/api.md).

use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;
use utoipa::{OpenApi, ToSchema};
use warp::http::{Method, StatusCode};
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

pub mod access;
pub mod api;
pub mod assets;
mod body;
mod openapi;
pub mod review;
mod route_table;
mod server;
mod stall;

pub use openapi::ApiDoc;
pub use route_table::RouteTable;
use route_table::WrongMethod;
pub use server::{serve, RETRY_AFTER_SECS};

use access::{Access, TokenFileError, Tokens, Unauthorized};
use api::{ApiError, ScoreBody, ScoreResponse};
use body::BodyRefused;

use crate::config::HttpFlags;
use crate::live::LiveSnapshot;
use crate::metrics::{HttpRejection, Metrics};
use crate::models::ModelsView;
use crate::replica::ReplicaState;
use crate::review::Labeller;

/// The routes that need a bearer token when the scorer has `--api-token-file`: they score, show
/// accounts, amounts and models, or write labels.
pub const PROTECTED: [&str; 5] = [
    "/v1/score",
    "/api/live",
    "/v1/model",
    "/api/review",
    "/v1/labels",
];

/// How the server is bounded, and who may read what (from [`HttpFlags`]).
#[derive(Clone)]
pub struct Settings {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most requests being read or answered at once (the probes and metrics aside).
    pub max_in_flight: usize,
    /// Time to send a request head, and again its body.
    pub read_timeout: Duration,
    /// Tokens and the masking of account ids.
    pub access: Access,
    /// Where `POST /v1/labels` writes analysts' labels; `None`: labelling is off (503).
    pub labeller: Option<Arc<Labeller>>,
}

impl Default for Settings {
    /// The flags' defaults: no token, account ids masked.
    fn default() -> Self {
        Settings::from_limits(&HttpFlags::default(), Access::default())
    }
}

impl Settings {
    /// The settings the flags give; reads `--api-token-file`, and fails naming it when it cannot
    /// be read or holds no usable token.
    pub fn from_flags(flags: &HttpFlags) -> Result<Settings, TokenFileError> {
        let tokens = match &flags.api_token_file {
            Some(path) => Some(Arc::new(Tokens::load(path)?)),
            None => None,
        };
        let access = Access {
            tokens,
            show_ids: flags.live_show_ids,
        };
        Ok(Settings::from_limits(flags, access))
    }

    fn from_limits(flags: &HttpFlags, access: Access) -> Settings {
        Settings {
            max_connections: flags.max_connections as usize,
            max_in_flight: flags.max_in_flight as usize,
            read_timeout: Duration::from_secs(flags.read_timeout_secs),
            access,
            labeller: None,
        }
    }

    /// These settings, with analysts' labels written by `labeller` (from `--labels-topic`).
    #[must_use]
    pub fn with_labeller(mut self, labeller: Option<Labeller>) -> Settings {
        self.labeller = labeller.map(Arc::new);
        self
    }
}

/// Whether this replica is ready to serve. A replica without input partitions (one beyond the
/// partition count, or any replica mid-rebalance) still scores `POST /v1/score`, so it is ready;
/// the stream's health is the `aegis_assigned_partitions` gauge (and `partitions` here), not
/// readiness.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// True once the model is loaded: always, while the server answers.
    pub ready: bool,
    /// Version of the loaded model.
    pub model_version: String,
    /// Input partitions this replica holds now; empty is ready too.
    pub partitions: Vec<i32>,
}

/// Every route with the default [`Settings`] (no token, account ids masked), for tests.
pub fn routes(
    replica: Arc<ReplicaState>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    routes_with(replica, Settings::default())
}

/// Every route, as [`serve`] serves them (the connection and in-flight caps are the server's).
pub fn routes_with(
    replica: Arc<ReplicaState>,
    settings: Settings,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let mut table = RouteTable::default();
    let counters = replica.metrics.clone();
    let with = warp::any().map(move || replica.clone());
    let protected = access::authorized(settings.access.clone());
    let show_ids = settings.access.show_ids;
    // A body of more than a few transactions is scored on the blocking pool, which the stream
    // scores on too: at most one such body per CPU at a time, so requests queue here rather than
    // crowd out the stream. The body is read before a slot is taken, so a slow client holds no
    // slot. (A small body is scored where it was read: see `INLINE_BODY_BYTES`.)
    let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let scoring = Arc::new(Semaphore::new(cpus));
    let metrics_route = table
        .route(Method::GET, "/metrics")
        .and(with.clone())
        .map(metrics);
    let healthz = table.route(Method::GET, "/healthz").map(healthz);
    let readyz = table
        .route(Method::GET, "/readyz")
        .and(with.clone())
        .map(readyz);
    let score = table
        .route(Method::POST, "/v1/score")
        .and(protected.clone())
        .and(body::bounded(api::MAX_BODY_BYTES, settings.read_timeout))
        .and(with.clone())
        .and(warp::any().map(move || scoring.clone()))
        .then(score);
    let model = table
        .route(Method::GET, "/v1/model")
        .and(protected.clone())
        .and(with.clone())
        .map(model);
    let live = table
        .route(Method::GET, "/api/live")
        .and(protected.clone())
        .and(with.clone())
        .map(move |s| live(s, show_ids));
    let labeller = settings.labeller.clone();
    let labelling = labeller.is_some();
    let review_queue = table
        .route(Method::GET, "/api/review")
        .and(protected.clone())
        .and(with.clone())
        .map(move |s| review::queue(s, labelling, show_ids));
    let labels = table
        .route(Method::POST, "/v1/labels")
        .and(protected)
        .and(body::bounded(review::MAX_BODY_BYTES, settings.read_timeout))
        .and(with)
        .and(warp::any().map(move || labeller.clone()))
        .then(review::mark);
    let openapi = table
        .route(Method::GET, "/openapi.json")
        .map(|| warp::reply::json(&ApiDoc::openapi()).into_response());
    let assets = assets::routes(&mut table);
    let table = Arc::new(table);
    metrics_route
        .or(healthz)
        .unify()
        .or(readyz)
        .unify()
        .or(score)
        .unify()
        .or(model)
        .unify()
        .or(live)
        .unify()
        .or(review_queue)
        .unify()
        .or(labels)
        .unify()
        .or(openapi)
        .unify()
        .or(assets)
        .unify()
        .recover(move |rejection| reject_as_json(rejection, table.clone(), counters.clone()))
        .unify()
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
fn metrics(s: Arc<ReplicaState>) -> Response {
    s.metrics.review_queue(s.live.review().len());
    s.metrics.response()
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive", body = String)))]
fn healthz() -> Response {
    "ok".into_response()
}

/// Readiness: the model is loaded, so `POST /v1/score` answers — whether or not this replica holds
/// input partitions (listed in the body; the stream's health is the `aegis_assigned_partitions`
/// metric).
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "ready: the model is loaded (with or without input partitions)", body = Readiness)
))]
fn readyz(s: Arc<ReplicaState>) -> Response {
    // The model is loaded before the server starts, and a replacement is installed whole.
    let body = Readiness {
        ready: true,
        model_version: s.models.live().model_version().to_owned(),
        partitions: s.assignment.partitions(),
    };
    warp::reply::json(&body).into_response()
}

/// Bodies up to this many bytes — one transaction is about 250, so a handful of them — are parsed
/// and scored on the connection's own task: tens of microseconds, less than handing the body to
/// the blocking pool and waking the connection again costs (two thread switches a request: most
/// of the scorer's time under load, docs/benchmarks.md, issue 28). Larger bodies go to the
/// blocking pool.
const INLINE_BODY_BYTES: usize = 2 << 10;

/// What a panic says, as a 500 shows it.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic");
    format!("task panicked: {text}")
}

/// Scores one transaction (JSON object) or several (JSON array) with the stream's model and
/// thresholds. Missing `tx_id` and `event_time` are filled in.
#[utoipa::path(post, path = "/v1/score", request_body = ScoreBody, responses(
    (status = 200, description = "verdict(s), in request order", body = ScoreResponse),
    (status = 400, description = "invalid input; the message names the field", body = ApiError),
    (status = 408, description = "the body did not all arrive within --http-read-timeout", body = ApiError),
    (status = 413, description = "body over 4 MiB: refused from its Content-Length, or at the first byte over the limit (chunked), without reading the rest", body = ApiError),
    (status = 500, description = "scoring failed (a bug)", body = ApiError)
))]
async fn score(body: bytes::Bytes, s: Arc<ReplicaState>, scoring: Arc<Semaphore>) -> Response {
    let scored = if body.len() <= INLINE_BODY_BYTES {
        // A panic is a 500, as on the blocking pool, not a dropped connection.
        std::panic::catch_unwind(AssertUnwindSafe(|| api::score_body(&s, &body)))
            .map_err(|panic| panic_message(&*panic))
    } else {
        // Read whole (by `body::bounded`) before a scoring slot is taken.
        // `Err` only once the semaphore is closed, which it never is.
        let permit = scoring.acquire_owned().await;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            api::score_body(&s, &body)
        })
        .await
        .map_err(|e| e.to_string())
    };
    let (status, body) = match scored {
        Ok(Ok(verdicts)) => (StatusCode::OK, warp::reply::json(&verdicts)),
        Ok(Err(error)) => (
            StatusCode::BAD_REQUEST,
            warp::reply::json(&ApiError { error }),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            warp::reply::json(&ApiError {
                error: format!("scoring failed: {e}"),
            }),
        ),
    };
    warp::reply::with_status(body, status).into_response()
}

/// The models this replica scores with: the live one (from `--model` or the models topic) and the
/// shadow, if one is published — each with its version, thresholds, and when and whence it
/// arrived — and the models topic's version history, newest first.
#[utoipa::path(get, path = "/v1/model", responses((status = 200, description = "the live and shadow models, the version history, and the rule sets in use", body = ModelsView)))]
fn model(s: Arc<ReplicaState>) -> Response {
    let view = ModelsView {
        rule_sets: s.rules.view(),
        ..s.models.view()
    };
    warp::reply::json(&view).into_response()
}

/// The live page's data: totals, fraud rate, blocked amount, recent points and the REVIEW/BLOCK
/// log, over every replica's verdicts since this replica started. Account ids show their last
/// four characters only, unless the scorer runs with `--live-show-ids`.
#[utoipa::path(get, path = "/api/live", responses((status = 200, description = "the live view", body = LiveSnapshot)))]
fn live(s: Arc<ReplicaState>, show_ids: bool) -> Response {
    let mut snapshot = s.live.snapshot();
    if !show_ids {
        for entry in &mut snapshot.log {
            entry.account = access::mask_account(&entry.account);
        }
    }
    warp::reply::json(&snapshot).into_response()
}

/// Turns rejections (unknown path, wrong method, missing token, body too large, too slow or
/// broken) into JSON errors with their own 4xx status, counting those a client can use to abuse
/// the server in `aegis_http_rejected_total`. A 405 carries the path's methods from `table` in
/// `Allow`; a 401 carries `WWW-Authenticate`.
async fn reject_as_json(
    rejection: Rejection,
    table: Arc<RouteTable>,
    metrics: Arc<Metrics>,
) -> Result<Response, Infallible> {
    let mut header = None;
    let (status, error) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "no such endpoint".to_owned())
    } else if let Some(refused) = rejection.find::<Unauthorized>() {
        metrics.http_rejected(HttpRejection::Unauthorized);
        header = Some(("www-authenticate", refused.challenge().to_owned()));
        let error = if refused.presented {
            "the bearer token is not one of this scorer's"
        } else {
            "a bearer token is required: send Authorization: Bearer <token>"
        };
        (StatusCode::UNAUTHORIZED, error.to_owned())
    } else if let Some(refused) = rejection.find::<BodyRefused>() {
        match refused {
            BodyRefused::TooLarge { limit } => {
                metrics.http_rejected(HttpRejection::BodyTooLarge);
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("body larger than {limit} bytes"),
                )
            }
            BodyRefused::TimedOut { after } => {
                metrics.http_rejected(HttpRejection::ReadTimeout);
                header = Some(("connection", "close".to_owned()));
                (
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the body did not arrive within {} s", after.as_secs()),
                )
            }
            BodyRefused::Broken(e) => (
                StatusCode::BAD_REQUEST,
                format!("the body could not be read: {e}"),
            ),
        }
    } else if let Some(WrongMethod { path }) = rejection.find() {
        header = Some(("allow", table.allow(path)));
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed".to_owned(),
        )
    } else {
        (StatusCode::BAD_REQUEST, format!("{rejection:?}"))
    };
    let reply = warp::reply::with_status(warp::reply::json(&ApiError { error }), status);
    Ok(match header {
        Some((name, value)) => warp::reply::with_header(reply, name, value).into_response(),
        None => reply.into_response(),
    })
}
