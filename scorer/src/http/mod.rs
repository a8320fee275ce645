//! The HTTP side of a replica (warp). Everything it serves comes from the binary itself — no CDN —
//! because payment networks often have no internet:
//!
//! | route | what |
//! |---|---|
//! | `GET /metrics` | Prometheus metrics |
//! | `GET /healthz` | alive |
//! | `GET /readyz` | model loaded and input partitions assigned |
//! | `POST /v1/score` | score one transaction or an array (JSON) |
//! | `GET /openapi.json` | OpenAPI 3 description, generated from the Rust types |
//! | `GET /docs` | interactive API docs (vendored Swagger UI) |
//! | `GET /` | the live page; `GET /api/live` its data |

use std::sync::Arc;

use aegis_core::{Decision, TxType, Verdict};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::{OpenApi, ToSchema};
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::Filter;

pub mod api;
pub mod assets;
pub mod live;

use api::{ApiError, ScoreRequest};
use live::LiveSnapshot;

use crate::replica::ReplicaState;

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
    paths(score, healthz, readyz, metrics, live),
    components(schemas(
        ScoreRequest,
        ScoreBody,
        ScoreResponse,
        Verdict,
        Decision,
        TxType,
        ApiError,
        Readiness
    ))
)]
pub struct ApiDoc;

/// One transaction or an array of them.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the body for OpenAPI; parsing is done by `api::score_body`
pub enum ScoreBody {
    /// A single transaction.
    One(ScoreRequest),
    /// Up to 10,000 transactions, scored in order.
    Many(Vec<ScoreRequest>),
}

/// A verdict, or an array of verdicts in request order.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the response for OpenAPI
pub enum ScoreResponse {
    /// The verdict for a single transaction.
    One(Verdict),
    /// The verdicts for an array, in request order.
    Many(Vec<Verdict>),
}

/// Whether this replica is ready to score from the stream.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// True when the model is loaded and at least one input partition is assigned.
    pub ready: bool,
    /// Version of the loaded model.
    pub model_version: String,
    /// Input partitions this replica holds.
    pub partitions: Vec<i32>,
}

/// Every route, for serving and for tests.
pub fn routes(
    replica: Arc<ReplicaState>,
) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone {
    let with = warp::any().map(move || replica.clone());
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with.clone())
        .map(metrics);
    let healthz = warp::path!("healthz").and(warp::get()).map(healthz);
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with.clone())
        .map(readyz);
    let score = warp::path!("v1" / "score")
        .and(warp::post())
        .and(warp::body::content_length_limit(api::MAX_BODY_BYTES))
        .and(warp::body::bytes())
        .and(with.clone())
        .map(score);
    let live = warp::path!("api" / "live")
        .and(warp::get())
        .and(with)
        .map(live);
    let openapi = warp::path!("openapi.json")
        .and(warp::get())
        .map(|| warp::reply::json(&ApiDoc::openapi()).into_response());
    metrics
        .or(healthz)
        .unify()
        .or(readyz)
        .unify()
        .or(score)
        .unify()
        .or(live)
        .unify()
        .or(openapi)
        .unify()
        .or(assets::routes())
        .unify()
        .recover(reject_as_json)
        .unify()
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
fn metrics(s: Arc<ReplicaState>) -> Response {
    warp::reply::with_header(
        s.metrics.render(),
        "content-type",
        "text/plain; version=0.0.4",
    )
    .into_response()
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive", body = String)))]
fn healthz() -> Response {
    "ok".into_response()
}

/// Readiness: the model is loaded and this replica holds input partitions.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "ready", body = Readiness),
    (status = 503, description = "no partitions assigned yet", body = Readiness)
))]
fn readyz(s: Arc<ReplicaState>) -> Response {
    let partitions = s.assignment.partitions();
    let body = Readiness {
        ready: !partitions.is_empty(),
        model_version: s.scorer.model().model_version.clone(),
        partitions,
    };
    let status = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

/// Scores one transaction (JSON object) or several (JSON array) with the stream's model and
/// thresholds. Missing `tx_id` and `event_time` are filled in.
#[utoipa::path(post, path = "/v1/score", request_body = ScoreBody, responses(
    (status = 200, description = "verdict(s), in request order", body = ScoreResponse),
    (status = 400, description = "invalid input; the message names the field", body = ApiError),
    (status = 413, description = "body over 1 MiB", body = ApiError)
))]
fn score(body: bytes::Bytes, s: Arc<ReplicaState>) -> Response {
    match api::score_body(&s.scorer, &body) {
        Ok(verdicts) => warp::reply::json(&verdicts).into_response(),
        Err(error) => warp::reply::with_status(
            warp::reply::json(&ApiError { error }),
            StatusCode::BAD_REQUEST,
        )
        .into_response(),
    }
}

/// The live page's data: totals, fraud rate, blocked amount, recent points and the REVIEW/BLOCK
/// log, over every replica's verdicts since this replica started.
#[utoipa::path(get, path = "/api/live", responses((status = 200, description = "the live view", body = LiveSnapshot)))]
fn live(s: Arc<ReplicaState>) -> Response {
    warp::reply::json(&s.live.snapshot()).into_response()
}

/// Turns warp's rejections (unknown path, wrong method, body too large or of unknown length) into
/// JSON errors with their own 4xx status.
async fn reject_as_json(rejection: warp::Rejection) -> Result<Response, std::convert::Infallible> {
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
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed".to_owned(),
        )
    } else {
        (StatusCode::BAD_REQUEST, format!("{rejection:?}"))
    };
    Ok(warp::reply::with_status(warp::reply::json(&ApiError { error }), status).into_response())
}
