//! The replica's HTTP server (warp): `GET /metrics`, `GET /healthz` (alive), `GET /readyz` (model
//! loaded and partitions assigned), `POST /v1/score`. Everything it serves comes from the binary.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::http::StatusCode;
use warp::Filter;

use crate::api::{self, ApiError};
use crate::pipeline::Scoring;

/// Serves until `shutdown` fires.
pub async fn serve(listener: TcpListener, scoring: Arc<Scoring>, shutdown: CancellationToken) {
    warp::serve(routes(scoring))
        .incoming(listener)
        .graceful(async move { shutdown.cancelled().await })
        .run()
        .await;
}

/// Every route, for serving and for tests.
pub fn routes(
    scoring: Arc<Scoring>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let with = {
        let scoring = scoring.clone();
        warp::any().map(move || scoring.clone())
    };
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with.clone())
        .map(|s: Arc<Scoring>| {
            warp::reply::with_header(
                s.metrics.render(),
                "content-type",
                "text/plain; version=0.0.4",
            )
        });
    let healthz = warp::path!("healthz").and(warp::get()).map(|| "ok");
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with.clone())
        .map(|s: Arc<Scoring>| {
            let partitions = s.assignment.partitions();
            let body = serde_json::json!({
                "model_version": s.scorer.model().model_version,
                "partitions": partitions,
                "ready": !partitions.is_empty(),
            });
            let status = if partitions.is_empty() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            warp::reply::with_status(warp::reply::json(&body), status)
        });
    let score = warp::path!("v1" / "score")
        .and(warp::post())
        .and(warp::body::content_length_limit(api::MAX_BODY_BYTES))
        .and(warp::body::bytes())
        .and(with)
        .map(
            |body: bytes::Bytes, s: Arc<Scoring>| match api::score_body(&s.scorer, &body) {
                Ok(verdicts) => {
                    warp::reply::with_status(warp::reply::json(&verdicts), StatusCode::OK)
                }
                Err(error) => warp::reply::with_status(
                    warp::reply::json(&ApiError { error }),
                    StatusCode::BAD_REQUEST,
                ),
            },
        );
    metrics
        .or(healthz)
        .or(readyz)
        .or(score)
        .recover(reject_as_json)
}

/// Turns warp's rejections (unknown path, wrong method, body too large) into JSON errors.
async fn reject_as_json(
    rejection: warp::Rejection,
) -> Result<impl warp::Reply, std::convert::Infallible> {
    let (status, error) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "no such endpoint".to_owned())
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than {} bytes", api::MAX_BODY_BYTES),
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed".to_owned(),
        )
    } else {
        (StatusCode::BAD_REQUEST, format!("{rejection:?}"))
    };
    Ok(warp::reply::with_status(
        warp::reply::json(&ApiError { error }),
        status,
    ))
}
