//! `POST /v1/score`: one transaction (or an array) in JSON, verdicts out — the same model and
//! thresholds as the stream. Every error is a 400 whose message names the field.

use std::sync::atomic::{AtomicU64, Ordering};

use aegis_core::{Transaction, TxType, Verdict};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use aegis_core::clock::now_ms;

use crate::stream::scoring::Scorer;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: u64 = 1 << 20;
/// Most transactions in one request.
pub const MAX_BATCH: usize = 10_000;

/// A transaction to score. PaySim's columns; `tx_id` and `event_time` are filled in when missing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "TRANSFER", "amount": 181000.0, "name_orig": "C1305486145",
    "old_balance_orig": 181000.0, "new_balance_orig": 0.0, "name_dest": "C553264065",
    "old_balance_dest": 0.0, "new_balance_dest": 0.0}))]
pub struct ScoreRequest {
    /// Unique id of the transaction; generated (`api-…`) when absent.
    pub tx_id: Option<String>,
    /// When the transaction happened, milliseconds since the Unix epoch (UTC); now when absent.
    pub event_time: Option<i64>,
    /// PaySim's hour of simulation; 0 when absent (not a model feature).
    #[serde(default)]
    pub step: i32,
    /// Transaction type.
    #[serde(rename = "type")]
    pub tx_type: TxType,
    /// Amount moved, in the account currency; not negative, at most 10^15 (balances: within
    /// ±10^15).
    pub amount: f64,
    /// The origin (paying) account.
    pub name_orig: String,
    /// Origin balance before the transaction.
    pub old_balance_orig: f64,
    /// Origin balance after the transaction.
    pub new_balance_orig: f64,
    /// The destination account.
    pub name_dest: String,
    /// Destination balance before the transaction.
    pub old_balance_dest: f64,
    /// Destination balance after the transaction.
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

/// Scores a request body; `Err` is the message of a 400.
pub fn score_body(scorer: &Scorer, body: &[u8]) -> Result<serde_json::Value, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8 JSON".to_owned())?;
    let now = now_ms();
    if text.trim_start().starts_with('[') {
        let requests: Vec<ScoreRequest> = parse(text)?;
        if requests.len() > MAX_BATCH {
            return Err(format!(
                "{} transactions in one request; at most {MAX_BATCH}",
                requests.len()
            ));
        }
        let verdicts = requests
            .into_iter()
            .enumerate()
            .map(|(i, r)| score_one(scorer, r, now).map_err(|e| format!("[{i}].{e}")))
            .collect::<Result<Vec<Verdict>, String>>()?;
        serde_json::to_value(verdicts).map_err(|e| e.to_string())
    } else {
        let request: ScoreRequest = parse(text)?;
        serde_json::to_value(score_one(scorer, request, now)?).map_err(|e| e.to_string())
    }
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

fn score_one(scorer: &Scorer, r: ScoreRequest, now: i64) -> Result<Verdict, String> {
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
    Ok(scorer.verdict(&tx, now))
}
