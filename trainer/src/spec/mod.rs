//! Training and evaluating on data of any [spec](aegis_core::spec): the spec's records are read
//! from one CSV, put in event-time order, and every one feeds the feature engine — so each
//! row's features see every earlier row of the file, as the scorer's would — while only the rows
//! of the period a command works on keep their features ([`Table`]). [`train`] and [`evaluate`]
//! are the commands' spec paths; PaySim without a period keeps its own (`crate::train`,
//! `crate::evaluate`), whose figures these give too.

pub mod evaluate;
pub mod period;
pub mod train;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

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

/// Reads every record of `path` by `spec`, in event-time order, computes each one's features
/// from every record before it, and keeps the rows whose event time `keep` accepts. A file in
/// event-time order (the usual case) streams through, a record at a time: memory holds the
/// engine's state and the kept rows, not the file. One that is not is read whole and stably
/// sorted by event time first. A bad row stops it with an error naming the file, line and field;
/// a header without a spec field, likewise.
pub fn read(spec: &Spec, path: &Path, keep: impl Fn(i64) -> bool) -> Result<Table> {
    let context = || format!("reading {} by spec `{}`", path.display(), spec.name);
    let mut table = TableBuilder::new(spec, &keep);
    let mut in_order = true;
    for (i, record) in RecordReader::open(spec, path)?.enumerate() {
        let record = record.with_context(context)?;
        if !table.push(i + 1, &record) {
            in_order = false;
            break;
        }
    }
    if !in_order {
        tracing::info!(file = %path.display(), "not in event-time order: reading it whole to sort it");
        let records = RecordReader::open(spec, path)?
            .collect::<Result<Vec<Record>, _>>()
            .with_context(context)?;
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_by_key(|&i| records[i].event_time_ms);
        table = TableBuilder::new(spec, &keep);
        for i in order {
            table.push(i + 1, &records[i]);
        }
    }
    anyhow::ensure!(table.table.read > 0, "{} has no rows", path.display());
    Ok(table.table)
}

/// [`read`] of several files as one history: their records merged in event-time order (stably:
/// at equal times, the earlier file's first), a record whose id an earlier one has counted once —
/// the original data and what `export-outcomes` wrote from the stream overlap. Several files need
/// the spec's `id` field, to know a record seen twice; they are read whole.
pub fn read_files(spec: &Spec, paths: &[PathBuf], keep: impl Fn(i64) -> bool) -> Result<Table> {
    let [_, _, ..] = paths else {
        let path = paths.first().context("give at least one --data file")?;
        return read(spec, path, keep);
    };
    let id = spec
        .fields
        .iter()
        .position(|f| f.role == FieldRole::Id)
        .with_context(|| {
            format!(
                "--data: spec `{}` has no id field, so a row found in two files cannot be counted once; put the rows in one CSV",
                spec.name
            )
        })?;
    let mut seen = HashSet::new();
    let mut records = Vec::new();
    for path in paths {
        let context = || format!("reading {} by spec `{}`", path.display(), spec.name);
        for record in RecordReader::open(spec, path)? {
            let record = record.with_context(context)?;
            if seen.insert(text(&spec.fields[id].values, &record.values[id])) {
                records.push(record);
            }
        }
    }
    records.sort_by_key(|r| r.event_time_ms);
    let mut table = TableBuilder::new(spec, &keep);
    for (i, record) in records.iter().enumerate() {
        table.push(i + 1, record);
    }
    anyhow::ensure!(table.table.read > 0, "the --data files have no rows");
    Ok(table.table)
}

/// A [`Table`] being filled, record by record in event-time order.
struct TableBuilder<'a, K: Fn(i64) -> bool> {
    spec: &'a Spec,
    keep: &'a K,
    engine: FeatureEngine,
    /// The id field and the evaluation entity, as field indices.
    id: Option<usize>,
    entity: Option<usize>,
    /// The latest event time pushed.
    last_time: i64,
    /// One record's features, room reused.
    features: Vec<f64>,
    table: Table,
}

impl<'a, K: Fn(i64) -> bool> TableBuilder<'a, K> {
    fn new(spec: &'a Spec, keep: &'a K) -> Self {
        let engine = FeatureEngine::new(spec);
        let field = |role: FieldRole| spec.fields.iter().position(|f| f.role == role);
        TableBuilder {
            spec,
            keep,
            id: field(FieldRole::Id),
            entity: spec
                .evaluation
                .as_ref()
                .and_then(|e| spec.fields.iter().position(|f| f.name == e.entity)),
            last_time: i64::MIN,
            features: Vec::with_capacity(engine.width()),
            table: Table {
                width: engine.width(),
                rows: Vec::new(),
                features: Vec::new(),
                frauds: Vec::new(),
                read: 0,
            },
            engine,
        }
    }

    /// Observes `record` (data row `row` of the file); `false`, and nothing observed, when it
    /// is earlier than the record before it.
    fn push(&mut self, row: usize, record: &Record) -> bool {
        if record.event_time_ms < self.last_time {
            return false;
        }
        self.last_time = record.event_time_ms;
        self.engine.observe(record, &mut self.features);
        self.table.read += 1;
        let text = |field: usize| text(&self.spec.fields[field].values, &record.values[field]);
        let is_fraud = record.label == Some(true);
        let entity = self.entity.map_or_else(String::new, text);
        if is_fraud {
            self.table
                .frauds
                .push((record.event_time_ms, entity.clone()));
        }
        if (self.keep)(record.event_time_ms) {
            self.table.rows.push(TableRow {
                row,
                time_ms: record.event_time_ms,
                is_fraud,
                id: self.id.map_or_else(|| row.to_string(), text),
                entity,
            });
            self.table.features.extend_from_slice(&self.features);
        }
        true
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD";
    const ROWS: [&str; 6] = [
        "1,2018-04-01 00:00:01,7,70,10.0,0",
        "2,2018-04-01 01:00:00,8,70,20.0,1",
        "3,2018-04-02 00:00:00,7,71,30.0,0",
        "4,2018-04-09 12:00:00,8,70,40.0,0",
        "5,2018-04-10 00:00:00,7,70,250.0,1",
        "6,2018-04-11 00:00:00,8,72,60.0,0",
    ];

    fn cards() -> Spec {
        Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/cards.toml")).unwrap()
    }

    fn table_of(rows: &[&str], keep: impl Fn(i64) -> bool) -> Table {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
        read(&cards(), &path, keep).unwrap()
    }

    #[test]
    fn a_file_out_of_event_time_order_gives_the_features_of_the_sorted_file() {
        let sorted = table_of(&ROWS, |_| true);
        let mut shuffled_rows = ROWS;
        shuffled_rows.swap(0, 4);
        shuffled_rows.swap(2, 5);
        let shuffled = table_of(&shuffled_rows, |_| true);
        assert_eq!(sorted.read, 6);
        assert_eq!(shuffled.read, 6);
        let ids = |t: &Table| t.rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&shuffled), ids(&sorted), "event-time order");
        assert_eq!(shuffled.features, sorted.features);
        // Row numbers still name each row's line in its own file.
        assert_eq!(sorted.rows[0].row, 1);
        assert_eq!(shuffled.rows[0].row, 5);
        assert_eq!(
            sorted.frauds,
            [
                (1_522_544_400_000, "8".into()),
                (1_523_318_400_000, "7".into())
            ]
        );
    }

    #[test]
    fn rows_outside_the_period_feed_the_history_but_are_not_kept() {
        let all = table_of(&ROWS, |_| true);
        let april_9_on = table_of(&ROWS, |t| t >= 1_523_232_000_000);
        assert_eq!(april_9_on.read, 6);
        assert_eq!(april_9_on.rows.len(), 3);
        assert_eq!(april_9_on.features(0), all.features(3));
        assert_eq!(april_9_on.frauds, all.frauds);
    }
}
