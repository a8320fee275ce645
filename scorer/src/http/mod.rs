//! The HTTP side of a replica (warp). Everything it serves comes from the binary itself — no CDN —
//! because payment networks often have no internet:
//!
//! | route | what |
//! |---|---|
//! | `GET /metrics` | Prometheus metrics |
//! | `GET /healthz` | alive |
//! | `GET /readyz` | ready to score: the model is loaded (partitions held or not) |
//! | `POST /v1/score` | score one transaction or an array (JSON) |
//! | `GET /v1/model` | the live and shadow models: versions, thresholds, when and whence each arrived |
//! | `GET /openapi.json` | OpenAPI 3 description, generated from the Rust types |
//! | `GET /docs` | interactive API docs (vendored Swagger UI) |
//! | `GET /` | the live page; `GET /api/live` its data |
//!
//! Every route is registered in one [`RouteTable`]: a request for a known path with another method
//! is a 405 whose `Allow` header lists the methods the table holds for that path.

use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::sync::Arc;

use aegis_core::{Decision, TxType, Verdict};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use utoipa::openapi::schema::{ObjectBuilder, Ref, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};
use warp::http::{Method, StatusCode};
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

pub mod api;
pub mod assets;
mod route_table;

pub use route_table::RouteTable;
use route_table::WrongMethod;

use api::{ApiError, ScoreBody, ScoreRequest, ScoreResponse};

use crate::live::LiveSnapshot;
use crate::models::{ModelsView, Origin, SlotView};
use crate::replica::ReplicaState;
use crate::rules::{RuleOrigin, RuleSetView};

/// Serves until `shutdown` fires.
pub async fn serve(listener: TcpListener, replica: Arc<ReplicaState>, shutdown: CancellationToken) {
    warp::serve(routes(replica))
        .incoming(listener)
        .graceful(async move { shutdown.cancelled().await })
        .run()
        .await;
}

/// The OpenAPI description of this server.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aegis scorer",
        description = "Real-time fraud replica: the same model and thresholds as the Kafka stream."
    ),
    paths(score, model, healthz, readyz, metrics, live),
    components(schemas(
        ScoreRequest,
        ScoreBody,
        ScoreResponse,
        Verdict,
        Decision,
        TxType,
        ApiError,
        Readiness,
        ModelsView,
        SlotView,
        RuleSetView,
        RuleOrigin,
        Origin
    )),
    modifiers(&OtherMethodsRefused)
)]
pub struct ApiDoc;

/// Documents the 405 every operation answers to the other methods, with the `Allow` header it
/// carries: exactly the methods documented for that path.
struct OtherMethodsRefused;

impl Modify for OtherMethodsRefused {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                ("GET", &mut item.get),
                ("PUT", &mut item.put),
                ("POST", &mut item.post),
                ("DELETE", &mut item.delete),
                ("OPTIONS", &mut item.options),
                ("HEAD", &mut item.head),
                ("PATCH", &mut item.patch),
                ("TRACE", &mut item.trace),
            ];
            let allow = operations
                .iter()
                .filter(|(_, operation)| operation.is_some())
                .map(|(method, _)| *method)
                .collect::<Vec<_>>()
                .join(", ");
            let header = HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([allow.clone()])),
                )
                .description(Some("The methods this path answers (RFC 9110)."))
                .build();
            let refused = ResponseBuilder::new()
                .description(format!(
                    "method not allowed: this path answers {allow} only"
                ))
                .header("Allow", header)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(ApiError::name())))
                        .build(),
                )
                .build();
            for (_, operation) in operations {
                if let Some(operation) = operation {
                    operation
                        .responses
                        .responses
                        .insert("405".to_owned(), refused.clone().into());
                }
            }
        }
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

/// Every route, for serving and for tests.
pub fn routes(
    replica: Arc<ReplicaState>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let mut table = RouteTable::default();
    let with = warp::any().map(move || replica.clone());
    // Scoring runs on the blocking pool, which the stream scores on too: at most one HTTP body
    // per CPU at a time, so requests queue here rather than crowd out the stream.
    let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let scoring = Arc::new(Semaphore::new(cpus));
    let metrics = table
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
        .and(warp::body::content_length_limit(api::MAX_BODY_BYTES))
        .and(warp::body::bytes())
        .and(with.clone())
        .and(warp::any().map(move || scoring.clone()))
        .then(score);
    let model = table
        .route(Method::GET, "/v1/model")
        .and(with.clone())
        .map(model);
    let live = table.route(Method::GET, "/api/live").and(with).map(live);
    let openapi = table
        .route(Method::GET, "/openapi.json")
        .map(|| warp::reply::json(&ApiDoc::openapi()).into_response());
    let assets = assets::routes(&mut table);
    let table = Arc::new(table);
    metrics
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
        .or(openapi)
        .unify()
        .or(assets)
        .unify()
        .recover(move |rejection| reject_as_json(rejection, table.clone()))
        .unify()
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
fn metrics(s: Arc<ReplicaState>) -> Response {
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

/// Scores one transaction (JSON object) or several (JSON array) with the stream's model and
/// thresholds. Missing `tx_id` and `event_time` are filled in.
#[utoipa::path(post, path = "/v1/score", request_body = ScoreBody, responses(
    (status = 200, description = "verdict(s), in request order", body = ScoreResponse),
    (status = 400, description = "invalid input; the message names the field", body = ApiError),
    (status = 411, description = "no Content-Length (e.g. a chunked body): the size limit cannot be checked before reading", body = ApiError),
    (status = 413, description = "body over 4 MiB", body = ApiError),
    (status = 500, description = "scoring failed (a bug)", body = ApiError)
))]
async fn score(body: bytes::Bytes, s: Arc<ReplicaState>, scoring: Arc<Semaphore>) -> Response {
    // `Err` only once the semaphore is closed, which it never is.
    let permit = scoring.acquire_owned().await;
    let scored = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        api::score_body(&s, &body)
    })
    .await;
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
/// arrived.
#[utoipa::path(get, path = "/v1/model", responses((status = 200, description = "the live and shadow models, and the rule sets in use", body = ModelsView)))]
fn model(s: Arc<ReplicaState>) -> Response {
    let view = ModelsView {
        rule_sets: s.rules.view(),
        ..s.models.view()
    };
    warp::reply::json(&view).into_response()
}

/// The live page's data: totals, fraud rate, blocked amount, recent points and the REVIEW/BLOCK
/// log, over every replica's verdicts since this replica started.
#[utoipa::path(get, path = "/api/live", responses((status = 200, description = "the live view", body = LiveSnapshot)))]
fn live(s: Arc<ReplicaState>) -> Response {
    warp::reply::json(&s.live.snapshot()).into_response()
}

/// Turns warp's rejections (unknown path, wrong method, body too large or of unknown length) into
/// JSON errors with their own 4xx status; a 405 carries the path's methods from `table` in `Allow`.
async fn reject_as_json(
    rejection: Rejection,
    table: Arc<RouteTable>,
) -> Result<Response, Infallible> {
    let mut allow = None;
    let (status, error) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "no such endpoint".to_owned())
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than {} bytes", api::MAX_BODY_BYTES),
        )
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        // Without a length (e.g. a chunked body) the size limit could not be checked up front.
        (
            StatusCode::LENGTH_REQUIRED,
            format!(
                "a Content-Length header is required (bodies are at most {} bytes)",
                api::MAX_BODY_BYTES
            ),
        )
    } else if let Some(WrongMethod { path }) = rejection.find() {
        allow = Some(table.allow(path));
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed".to_owned(),
        )
    } else {
        (StatusCode::BAD_REQUEST, format!("{rejection:?}"))
    };
    let reply = warp::reply::with_status(warp::reply::json(&ApiError { error }), status);
    Ok(match allow {
        Some(allow) => warp::reply::with_header(reply, "allow", allow).into_response(),
        None => reply.into_response(),
    })
}
