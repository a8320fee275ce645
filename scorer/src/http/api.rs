//! `POST /v1/score`: one transaction (or an array) in JSON, verdicts out — the same model,
//! thresholds and batch kernel as the stream. Every error in the body is a 400 whose message names
//! the field.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use aegis_core::clock::now_ms;
use aegis_core::{Transaction, TxType, Verdict};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Ref, Schema};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::replica::ReplicaState;

/// Largest request body accepted, in bytes: room for [`MAX_BATCH`] transactions of about 400
/// bytes each.
pub const MAX_BODY_BYTES: u64 = 4 << 20;
/// Most transactions in one request.
pub const MAX_BATCH: usize = 10_000;

/// A transaction to score. PaySim's columns; `tx_id` and `event_time` are filled in when missing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "TRANSFER", "amount": 181000.0, "name_orig": "C1305486145",
    "old_balance_orig": 181000.0, "new_balance_orig": 0.0, "name_dest": "C553264065",
    "old_balance_dest": 0.0, "new_balance_dest": 0.0}))]
pub struct ScoreRequest {
    /// Unique id of the transaction, not blank; generated (`api-…`) when absent.
    #[schema(min_length = 1)]
    pub tx_id: Option<String>,
    /// When the transaction happened, milliseconds since the Unix epoch (UTC); now when absent.
    /// Any integral number (`1700000000000` or `1700000000000.0`, as Python writes times).
    #[serde(default, deserialize_with = "integral")]
    pub event_time: Option<i64>,
    /// PaySim's hour of simulation; 0 when absent (not a model feature).
    #[serde(default, deserialize_with = "integral_i32")]
    pub step: i32,
    /// Transaction type.
    #[serde(rename = "type")]
    pub tx_type: TxType,
    /// Amount moved, in the account currency; not negative, at most 10^15 (balances: within
    /// ±10^15).
    #[schema(minimum = 0, maximum = 1e15)]
    pub amount: f64,
    /// The origin (paying) account; not blank.
    #[schema(min_length = 1)]
    pub name_orig: String,
    /// Origin balance before the transaction.
    #[schema(minimum = -1e15, maximum = 1e15)]
    pub old_balance_orig: f64,
    /// Origin balance after the transaction.
    #[schema(minimum = -1e15, maximum = 1e15)]
    pub new_balance_orig: f64,
    /// The destination account; not blank.
    #[schema(min_length = 1)]
    pub name_dest: String,
    /// Destination balance before the transaction.
    #[schema(minimum = -1e15, maximum = 1e15)]
    pub old_balance_dest: f64,
    /// Destination balance after the transaction.
    #[schema(minimum = -1e15, maximum = 1e15)]
    pub new_balance_dest: f64,
    /// Ground truth when known; ignored by scoring.
    #[serde(default)]
    pub is_fraud: Option<bool>,
}

/// What a 4xx response carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    /// What is wrong, naming the field (e.g. `[2].amount: is negative (-5)`).
    pub error: String,
}

/// A parsed `POST /v1/score` body: one transaction (a JSON object) or a batch (a JSON array).
/// Its OpenAPI schema is the bare `oneOf` of the two, as the server parses it — no wrapper.
#[derive(Debug)]
pub enum ScoreBody {
    /// A single transaction.
    One(ScoreRequest),
    /// Up to [`MAX_BATCH`] transactions, scored together, answered in order.
    Many(Vec<ScoreRequest>),
}

/// What `POST /v1/score` answers: the verdict, or the verdicts in request order (serialized bare).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ScoreResponse {
    /// The verdict for a single transaction.
    One(Verdict),
    /// The verdicts for a batch, in request order.
    Many(Vec<Verdict>),
}

impl ScoreBody {
    /// Parses a request body; `Err` is the message of a 400, naming the field (`[2].amount: …`).
    pub fn parse(body: &[u8]) -> Result<ScoreBody, String> {
        let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8 JSON".to_owned())?;
        // Parsed by the first character rather than as an untagged enum, so that errors keep the
        // path of the bad field.
        if !text.trim_start().starts_with('[') {
            return parse(text).map(ScoreBody::One);
        }
        let requests: Vec<ScoreRequest> = parse(text)?;
        if requests.len() > MAX_BATCH {
            return Err(format!(
                "{} transactions in one request; at most {MAX_BATCH}",
                requests.len()
            ));
        }
        Ok(ScoreBody::Many(requests))
    }
}

impl PartialSchema for ScoreBody {
    fn schema() -> RefOr<Schema> {
        one_or_batch(
            ScoreRequest::name(),
            format!(
                "One transaction (a JSON object), or a batch of them (a JSON array) scored \
                 together; the body is at most {MAX_BODY_BYTES} bytes."
            ),
            format!("A batch of at most {MAX_BATCH} transactions, scored together."),
        )
    }
}

impl ToSchema for ScoreBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ScoreBody")
    }
}

impl PartialSchema for ScoreResponse {
    fn schema() -> RefOr<Schema> {
        one_or_batch(
            Verdict::name(),
            "The verdict for one transaction (a JSON object), or the verdicts of a batch (a JSON \
             array)."
                .to_owned(),
            "The verdicts of a batch, in request order.".to_owned(),
        )
    }
}

impl ToSchema for ScoreResponse {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ScoreResponse")
    }
}

/// `oneOf`: the schema named `item`, or an array of at most [`MAX_BATCH`] of them — the bare
/// shapes the server reads and writes, with no wrapper object.
fn one_or_batch(item: Cow<'static, str>, description: String, batch: String) -> RefOr<Schema> {
    let array = ArrayBuilder::new()
        .items(Ref::from_schema_name(item.clone()))
        .max_items(Some(MAX_BATCH))
        .description(Some(batch));
    OneOfBuilder::new()
        .item(Ref::from_schema_name(item))
        .item(array)
        .description(Some(description))
        .into()
}

/// Parses and scores a request body; `Err` is the message of a 400. A batch is validated row by
/// row (the first bad row is named by its index) and its rows are scored together by the forest's
/// batch kernel, as the stream scores a batch of messages. CPU-bound: call it off the async
/// workers.
pub fn score_body(replica: &ReplicaState, body: &[u8]) -> Result<ScoreResponse, String> {
    let live = replica.models.live();
    if !live.is_paysim() {
        return Err(format!(
            "this scorer runs a model of spec `{}`: POST /v1/score takes PaySim transactions only (a spec's records are scored on the stream)",
            live.spec().name
        ));
    }
    let now = now_ms();
    match ScoreBody::parse(body)? {
        ScoreBody::One(request) => {
            let tx = transaction(request, now)?;
            let mut verdicts = replica.decide_alone(&[&tx], now);
            Ok(ScoreResponse::One(verdicts.remove(0)))
        }
        ScoreBody::Many(requests) => {
            let txs = requests
                .into_iter()
                .enumerate()
                .map(|(i, r)| transaction(r, now).map_err(|e| format!("[{i}].{e}")))
                .collect::<Result<Vec<Transaction>, String>>()?;
            let rows: Vec<&Transaction> = txs.iter().collect();
            Ok(ScoreResponse::Many(replica.decide_alone(&rows, now)))
        }
    }
}

/// Parses a UTF-8 JSON body as one `T`; `Err` is the message of a 400, naming the field.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8 JSON".to_owned())?;
    parse(text)
}

/// Parses the whole body as one JSON value: anything after it (a second object, stray text) is
/// an error, not silently ignored.
fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// An integer as JSON Schema counts one: `3` or `3.0` (a number whose fraction is zero), within
/// i64; `null` is none.
fn integral<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?
        .map(|n| whole(&n).map_err(serde::de::Error::custom))
        .transpose()
}

/// [`integral`] within i32, and never `null`.
fn integral_i32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    use serde::de::Error;
    let n = whole(&serde_json::Number::deserialize(d)?).map_err(D::Error::custom)?;
    i32::try_from(n).map_err(|_| D::Error::custom(format!("{n} is out of range")))
}

/// `number` as an i64, if it is a whole number within its range.
fn whole(number: &serde_json::Number) -> Result<i64, String> {
    // 2^63 as a float: the first value past i64's range.
    const BEYOND: f64 = 9_223_372_036_854_775_808.0;
    match (number.as_i64(), number.as_f64()) {
        (Some(n), _) => Ok(n),
        (None, Some(x)) if x.fract() == 0.0 && (-BEYOND..BEYOND).contains(&x) => Ok(x as i64),
        _ => Err(format!("{number} is not an integer")),
    }
}

/// The transaction a request describes, with `tx_id` and `event_time` filled in, once valid;
/// `Err` names the field (`amount: is negative (-5)`).
fn transaction(r: ScoreRequest, now: i64) -> Result<Transaction, String> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let tx = Transaction {
        tx_id: r
            .tx_id
            .unwrap_or_else(|| format!("api-{now}-{}", NEXT.fetch_add(1, Ordering::Relaxed))),
        event_time: r.event_time.unwrap_or(now),
        step: r.step,
        tx_type: r.tx_type,
        amount: r.amount,
        name_orig: r.name_orig,
        old_balance_orig: r.old_balance_orig,
        new_balance_orig: r.new_balance_orig,
        name_dest: r.name_dest,
        old_balance_dest: r.old_balance_dest,
        new_balance_dest: r.new_balance_dest,
        is_fraud: r.is_fraud,
    };
    tx.validate()
        .map_err(|e| format!("{}: {}", e.field, e.problem))?;
    Ok(tx)
}
