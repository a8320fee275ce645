//! The review queue over HTTP: `GET /api/review` lists the REVIEW verdicts waiting for an analyst
//! (with the account's recent history on PaySim), and `POST /v1/labels` marks one fraud or legit,
//! answering once its label is on the labels topic ([`crate::review`]).

use std::sync::Arc;

use aegis_core::account_state::Recent;
use aegis_core::clock::now_ms;
use aegis_core::verdict::Explanation;
use aegis_core::{TxType, Verdict};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use super::access::mask_account;
use super::api::ApiError;
use crate::replica::ReplicaState;
use crate::review::{analyst_label, Labeller, ANALYST};

/// Largest `POST /v1/labels` body, in bytes.
pub const MAX_BODY_BYTES: u64 = 4 << 10;

/// What `GET /api/review` returns.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewQueueView {
    /// What `account` holds: `account` for PaySim, else the spec's key field.
    pub key: String,
    /// Whether marking is on: false when the scorer runs with `--labels-topic ""` (then
    /// `POST /v1/labels` answers 503).
    pub labelling: bool,
    /// The REVIEW verdicts not yet marked, newest first (at most 200).
    #[schema(max_items = 200)]
    pub items: Vec<ReviewItem>,
}

/// One REVIEW verdict waiting for an analyst.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewItem {
    /// The transaction.
    pub tx_id: String,
    /// The key of its verdict: the origin account (PaySim) or the spec's key; masked to its last
    /// four characters unless the scorer runs with `--live-show-ids`.
    pub account: String,
    /// Transaction type.
    #[serde(rename = "type")]
    pub tx_type: TxType,
    /// Amount.
    pub amount: f64,
    /// When the transaction happened, ms since the Unix epoch.
    pub event_time: i64,
    /// When it was scored, ms since the Unix epoch.
    pub scored_at: i64,
    /// The model's fraud probability.
    pub fraud_probability: f64,
    /// The model that scored it.
    pub model_version: String,
    /// Why, in words.
    pub reasons: Vec<String>,
    /// The rules that fired on it; empty when none did.
    pub rules: Vec<String>,
    /// Why, as data: the model's score split into the features' contributions.
    pub explanation: Option<Explanation>,
    /// The account's recent history as this replica holds it now, oldest first: its remembered
    /// transactions (at most 32, within the last day of event time — the state the model's
    /// account features are computed from), this one and any later ones included. Absent on a
    /// spec's stream, and when this replica holds no history of the account (another replica's
    /// verdict under `--live-view all`, or an account evicted since).
    pub history: Option<Vec<AccountTransaction>>,
}

/// One transaction an account made, as its history remembers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountTransaction {
    /// When it happened, ms since the Unix epoch.
    pub event_time: i64,
    /// Its type.
    #[serde(rename = "type")]
    pub tx_type: TxType,
    /// Its amount.
    pub amount: f64,
    /// Where the money went; masked as `account` is.
    pub dest: String,
}

/// An analyst's decision on a transaction of the review queue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tx_id": "tx-42", "is_fraud": true}))]
pub struct ReviewDecision {
    /// The transaction, as `GET /api/review` lists it.
    #[schema(min_length = 1)]
    pub tx_id: String,
    /// Fraud (true) or legit (false).
    pub is_fraud: bool,
}

/// The label written for a decision, and where.
#[derive(Debug, Serialize, ToSchema)]
pub struct LabelWritten {
    /// The transaction.
    pub tx_id: String,
    /// The decision.
    pub is_fraud: bool,
    /// Always `analyst`.
    pub source: String,
    /// When it was marked, ms since the Unix epoch.
    pub labelled_at: i64,
    /// The transaction's event time, ms since the Unix epoch.
    pub event_time: i64,
    /// The labels topic.
    pub topic: String,
    /// The partition its key went to, and the label's offset there.
    pub partition: i32,
    pub offset: i64,
}

/// The review queue: REVIEW verdicts not yet marked, newest first, each with its score, reasons,
/// contributions, rules fired and (PaySim) the account's recent history. Account ids show their
/// last four characters only, unless the scorer runs with `--live-show-ids`.
#[utoipa::path(get, path = "/api/review", responses((status = 200, description = "the review queue", body = ReviewQueueView)))]
pub(super) fn queue(s: Arc<ReplicaState>, labelling: bool, show_ids: bool) -> Response {
    let waiting: Vec<Verdict> = s.live.review().waiting().cloned().collect();
    let histories = if s.models.live().is_paysim() {
        s.states
            .histories(waiting.iter().map(|v| v.account.as_str()))
    } else {
        vec![None; waiting.len()]
    };
    let id = |id: &str| {
        if show_ids {
            id.to_owned()
        } else {
            mask_account(id)
        }
    };
    let items = waiting
        .into_iter()
        .zip(histories)
        .map(|(v, history)| ReviewItem {
            account: id(&v.account),
            history: history.map(|recent| {
                recent
                    .iter()
                    .map(|r: &Recent| AccountTransaction {
                        event_time: r.time_ms,
                        tx_type: r.tx_type,
                        amount: r.amount,
                        dest: id(&r.dest),
                    })
                    .collect()
            }),
            tx_id: v.tx_id,
            tx_type: v.tx_type,
            amount: v.amount,
            event_time: v.event_time,
            scored_at: v.scored_at,
            fraud_probability: v.fraud_probability,
            model_version: v.model_version,
            reasons: v.reasons,
            rules: v.rules,
            explanation: v.explanation,
        })
        .collect();
    let view = ReviewQueueView {
        key: s.live.key(),
        labelling,
        items,
    };
    warp::reply::json(&view).into_response()
}

/// Marks a transaction of the review queue fraud or legit: writes its label (`source` =
/// `analyst`, the transaction's event time, keyed as its verdict) to the labels topic and answers
/// once the broker has acknowledged it; the transaction leaves the queue.
#[utoipa::path(post, path = "/v1/labels", request_body = ReviewDecision, responses(
    (status = 201, description = "the label is on the labels topic", body = LabelWritten),
    (status = 400, description = "invalid body; the message names the field", body = ApiError),
    (status = 404, description = "the transaction is not in the review queue (unknown, or marked already)", body = ApiError),
    (status = 408, description = "the body did not all arrive within --http-read-timeout", body = ApiError),
    (status = 413, description = "body over 4 KiB", body = ApiError),
    (status = 503, description = "no label written: labelling is off (--labels-topic \"\"), or the broker did not acknowledge it within 10 s; the transaction stays in the queue", body = ApiError)
))]
pub(super) async fn mark(
    body: bytes::Bytes,
    s: Arc<ReplicaState>,
    labeller: Option<Arc<Labeller>>,
) -> Response {
    let decision: ReviewDecision = match super::api::parse_json(&body) {
        Ok(decision) => decision,
        Err(error) => return error_reply(StatusCode::BAD_REQUEST, error),
    };
    if decision.tx_id.trim().is_empty() {
        return error_reply(StatusCode::BAD_REQUEST, "tx_id: is blank".to_owned());
    }
    let Some(labeller) = labeller else {
        return error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "labelling is off: this scorer runs with --labels-topic \"\"".to_owned(),
        );
    };
    let Some(verdict) = s.live.review().take(&decision.tx_id) else {
        return error_reply(
            StatusCode::NOT_FOUND,
            format!(
                "tx_id: {} is not in the review queue (unknown, or marked already)",
                decision.tx_id
            ),
        );
    };
    let label = analyst_label(&verdict, decision.is_fraud, now_ms());
    match labeller.write(&label, &verdict.account).await {
        Ok(written) => {
            s.metrics.review_decided(decision.is_fraud);
            let body = LabelWritten {
                tx_id: label.tx_id,
                is_fraud: label.is_fraud,
                source: ANALYST.to_owned(),
                labelled_at: label.labelled_at,
                event_time: verdict.event_time,
                topic: labeller.topic().to_owned(),
                partition: written.partition,
                offset: written.offset,
            };
            warp::reply::with_status(warp::reply::json(&body), StatusCode::CREATED).into_response()
        }
        Err(e) => {
            tracing::warn!(tx_id = %verdict.tx_id, error = %e, "analyst label not written");
            s.metrics.review_failed();
            s.live.review().put_back(verdict);
            error_reply(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
}

fn error_reply(status: StatusCode, error: String) -> Response {
    warp::reply::with_status(warp::reply::json(&ApiError { error }), status).into_response()
}
