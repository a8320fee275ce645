//! Training and evaluating on data of any [spec](aegis_core::spec): the spec's records are read
//! from one CSV, put in event-time order, and every one feeds the feature engine — so each
//! row's features see every earlier row of the file, as the scorer's would — while only the rows
//! of the period a command works on keep their features ([`Table`]). [`train`] and [`evaluate`]
//! are the commands' spec paths; PaySim without a period keeps its own (`crate::train`,
//! `crate::evaluate`), whose figures these give too.

pub mod evaluate;
pub mod period;
pub mod train;

use std::path::Path;

use aegis_core::spec::engine::FeatureEngine;
use aegis_core::spec::record::{Record, RecordReader, Value};
use aegis_core::spec::{FieldRole, Spec};
use anyhow::{Context, Result};

#[cfg(doc)]
use crate::metrics::Quality;
use crate::metrics::{card_precision, CardPrecision, EntityRow, KnownCompromised, Scored};

/// The rows a command works on, with their features, and what it needs of every other row.
pub struct Table {
    /// Values per row in `features`: the spec's feature count.
    pub width: usize,
    /// The rows kept, in event-time order.
    pub rows: Vec<TableRow>,
    /// `rows[i]`'s features are `features[i * width..(i + 1) * width]`.
    pub features: Vec<f64>,
    /// Every fraud of the file, kept or not: (event time, value of the spec's evaluation entity),
    /// to know which cards were known compromised when.
    pub frauds: Vec<(i64, String)>,
    /// Rows read, kept or not.
    pub read: usize,
}

/// One kept row.
#[derive(Clone, Debug)]
pub struct TableRow {
    /// Its data row number in the file (1 = the first row after the header).
    pub row: usize,
    pub time_ms: i64,
    /// Its label (`false` when the spec has none).
    pub is_fraud: bool,
    /// Its id field's value (its row number when the spec has no id).
    pub id: String,
    /// Its evaluation entity's value (empty when the spec names none).
    pub entity: String,
}

impl Table {
    /// The features of kept row `i`.
    pub fn features(&self, i: usize) -> &[f64] {
        &self.features[i * self.width..(i + 1) * self.width]
    }

    /// Frauds among the kept rows.
    pub fn frauds_kept(&self) -> usize {
        self.rows.iter().filter(|r| r.is_fraud).count()
    }

    /// Rows `indices` with their `scores` (one per index), weight 1, for the weighted metrics.
    pub fn scored(&self, indices: &[usize], scores: &[f64]) -> Vec<Scored> {
        indices
            .iter()
            .zip(scores)
            .map(|(&i, &probability)| Scored {
                probability,
                is_fraud: self.rows[i].is_fraud,
                weight: 1.0,
            })
            .collect()
    }

    /// Rows `indices` with their `scores`, for Card Precision@k.
    pub fn entity_rows(&self, indices: &[usize], scores: &[f64]) -> Vec<EntityRow<'_>> {
        indices
            .iter()
            .zip(scores)
            .map(|(&i, &score)| EntityRow {
                time_ms: self.rows[i].time_ms,
                entity: &self.rows[i].entity,
                score,
                is_fraud: self.rows[i].is_fraud,
            })
            .collect()
    }
}

/// Reads every record of `path` by `spec`, in event-time order (the file's order when it is
/// sorted; a stable sort by event time when not), computes each one's features from every
/// record before it, and keeps the rows whose event time `keep` accepts. A bad row stops it with
/// an error naming the file, line and field; a header without a spec field, likewise.
pub fn read(spec: &Spec, path: &Path, keep: impl Fn(i64) -> bool) -> Result<Table> {
    let mut records = RecordReader::open(spec, path)?
        .collect::<Result<Vec<Record>, _>>()
        .with_context(|| format!("reading {} by spec `{}`", path.display(), spec.name))?;
    anyhow::ensure!(!records.is_empty(), "{} has no rows", path.display());
    // Row numbers travel with the records through the sort.
    let mut order: Vec<usize> = (0..records.len()).collect();
    if !records.is_sorted_by_key(|r| r.event_time_ms) {
        order.sort_by_key(|&i| records[i].event_time_ms);
    }
    let field_index = |role: FieldRole| spec.fields.iter().position(|f| f.role == role);
    let id = field_index(FieldRole::Id);
    let entity = spec
        .evaluation
        .as_ref()
        .and_then(|e| spec.fields.iter().position(|f| f.name == e.entity));
    let text =
        |field: usize, record: &Record| text(&spec.fields[field].values, &record.values[field]);
    let mut engine = FeatureEngine::new(spec);
    let mut table = Table {
        width: engine.width(),
        rows: Vec::new(),
        features: Vec::new(),
        frauds: Vec::new(),
        read: records.len(),
    };
    let mut features = Vec::with_capacity(engine.width());
    for i in order {
        let record = &mut records[i];
        engine.observe(record, &mut features);
        let is_fraud = record.label == Some(true);
        let entity_value = entity.map_or_else(String::new, |f| text(f, record));
        if is_fraud {
            table
                .frauds
                .push((record.event_time_ms, entity_value.clone()));
        }
        if keep(record.event_time_ms) {
            table.rows.push(TableRow {
                row: i + 1,
                time_ms: record.event_time_ms,
                is_fraud,
                id: id.map_or_else(|| (i + 1).to_string(), |f| text(f, record)),
                entity: entity_value,
            });
            table.features.extend_from_slice(&features);
        }
        // Its values are not needed again: give the memory back as the table grows.
        record.values = Vec::new();
    }
    Ok(table)
}

/// Scored rows judged as the Handbook judges them, when the spec names an evaluation entity.
pub struct Judged {
    /// The rows measured (weight 1) with their calibrated probability, in the order given,
    /// without those left out.
    pub scored: Vec<Scored>,
    /// The same rows with the forest's raw score: what ranks them ([`Quality::measure_ranked`]).
    pub ranked: Vec<Scored>,
    /// Card Precision@k over them (ranked by raw score), when the spec names the entity.
    pub card_precision: Option<CardPrecision>,
    /// For each row given, whether it was left out (its card known compromised by its day).
    pub left_out: Vec<bool>,
    pub left_out_rows: usize,
    pub left_out_frauds: usize,
}

/// Rows `indices` of `table` with their calibrated `probabilities` and `raw` scores. When the
/// spec has an `[evaluation]` entity, rows of cards known compromised by their day — a fraud of
/// theirs since `known_since_ms` whose label has arrived — are left out, and Card Precision@k is
/// measured on the rest; without one, every row counts.
pub fn judge(
    spec: &Spec,
    table: &Table,
    indices: &[usize],
    [probabilities, raw]: [&[f64]; 2],
    known_since_ms: i64,
) -> Judged {
    let Some(evaluation) = &spec.evaluation else {
        return Judged {
            scored: table.scored(indices, probabilities),
            ranked: table.scored(indices, raw),
            card_precision: None,
            left_out: vec![false; indices.len()],
            left_out_rows: 0,
            left_out_frauds: 0,
        };
    };
    let known = KnownCompromised::new(
        table.frauds.iter().map(|(t, card)| (*t, card.as_str())),
        known_since_ms,
        spec.label_delay().millis(),
    );
    let left_out: Vec<bool> = indices
        .iter()
        .map(|&i| known.is_known(&table.rows[i].entity, table.rows[i].time_ms))
        .collect();
    let keep = |values: &[f64]| -> Vec<f64> {
        values
            .iter()
            .zip(&left_out)
            .filter(|(_, out)| !**out)
            .map(|(v, _)| *v)
            .collect()
    };
    let kept: Vec<usize> = indices
        .iter()
        .zip(&left_out)
        .filter(|(_, out)| !**out)
        .map(|(&i, _)| i)
        .collect();
    let (kept_probabilities, kept_raw) = (keep(probabilities), keep(raw));
    let left_out_frauds = indices
        .iter()
        .zip(&left_out)
        .filter(|(&i, out)| **out && table.rows[i].is_fraud)
        .count();
    Judged {
        scored: table.scored(&kept, &kept_probabilities),
        ranked: table.scored(&kept, &kept_raw),
        card_precision: Some(card_precision(
            &table.entity_rows(&kept, &kept_raw),
            &evaluation.entity,
            evaluation.k,
        )),
        left_out_rows: indices.len() - kept.len(),
        left_out,
        left_out_frauds,
    }
}

/// A value as the predictions file and Card Precision@k name it (`values`: an enum field's).
fn text(values: &[String], value: &Value) -> String {
    match value {
        Value::Integer(n) => n.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Text(t) => t.clone(),
        Value::Enum(i) => values.get(*i).cloned().unwrap_or_default(),
    }
}
