//! Computing a spec's features, record by record in event-time order: one implementation, for the
//! trainer offline and (next) the scorer online. What a feature needs of the past is kept per
//! entity — a card, a terminal — as that entity's recent transactions within the longest span its
//! features look back over (window, or window plus label delay), so memory is bounded by the
//! entities active within that span, not by the rows read — and online by [`EntityLimits`]
//! (most entities and transactions per entity field, the least recently seen forgotten first).
//!
//! Semantics, the Handbook's (pandas' time-based `rolling`): a window of length `w` at time `t`
//! holds the entity's transactions in `(t − w, t]`, read before this one, and this one when
//! `current`. A risk window ends the label delay `d` before the transaction: `(t − d − w, t − d]`,
//! so only labels that would have arrived count. Records must come in event-time order (the
//! trainer sorts them); an entity's transactions older than its longest span are forgotten.

use std::collections::VecDeque;

use super::entities::{EntityLimits, EntityTable, Event, Key, TableUse};
use super::expr::Expr;
use super::record::{Record, Value};
use super::{Aggregate, HistoryMeasure, RiskMeasure, Spec, TimePart};

/// How often (in records) entities silent for longer than their span are dropped.
const SWEEP_EVERY: u64 = 1 << 16;

/// Computes a spec's features for each record, remembering what later records need.
pub struct FeatureEngine {
    columns: Vec<Column>,
    /// Where each value `observe` gives goes in the spec's whole feature vector.
    positions: Vec<usize>,
    tables: Vec<EntityTable>,
    width: usize,
    /// The spec's `id` field, if it has one.
    id_field: Option<usize>,
    /// Whether a record's own label is remembered with it (offline: every label arrives its
    /// delay after its transaction) or labels come only through [`FeatureEngine::apply_label`]
    /// (online, from the labels topic).
    labels_from_records: bool,
    seen: u64,
    /// Each table's (key, history) for the record being observed; kept to reuse its room.
    taken: Vec<(Key, VecDeque<Event>)>,
}

/// One declared feature, its fields resolved to indices.
enum Column {
    Value(usize),
    OneHot {
        field: usize,
        values: usize,
    },
    Expr(Expr<usize>),
    Time(TimePart),
    Window {
        table: usize,
        agg: Aggregate,
        slot: Option<usize>,
        over: i64,
        current: bool,
    },
    History {
        table: usize,
        measure: HistoryMeasure,
        slot: Option<usize>,
        over: i64,
    },
    Risk {
        table: usize,
        measure: RiskMeasure,
        over: i64,
        delay: i64,
    },
}

/// A value as a remembered slot keeps it: numbers as they are, text as a hash.
fn slot_value(value: &Value) -> f64 {
    match value {
        Value::Text(t) => f64::from_bits(fnv1a(t.as_bytes())),
        other => other.number(),
    }
}

/// FNV-1a, 64 bits: the same on every platform, build and run, so remembered hashes can be
/// stored and read back by another replica.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl FeatureEngine {
    /// An engine for `spec` (checked: every name it uses resolves) computing every feature.
    pub fn new(spec: &Spec) -> FeatureEngine {
        FeatureEngine::with_features(spec, |_| true)
    }

    /// An engine computing only the features `keep` accepts, in spec order — one stage's share
    /// when the features of one entity are computed where that entity's transactions are
    /// (docs/streaming-features.md). [`FeatureEngine::positions`] says where its values go in
    /// the whole vector.
    pub fn with_features(spec: &Spec, keep: impl Fn(&super::FeatureSpec) -> bool) -> FeatureEngine {
        let index = |name: &str| spec.fields.iter().position(|f| f.name == name).unwrap_or(0);
        let delay = spec.label.as_ref().map_or(0, |l| l.delay.millis());
        let mut tables: Vec<EntityTable> = Vec::new();
        let mut table = |entity: &str, slot: Option<&str>, span: i64| -> (usize, Option<usize>) {
            let field = index(entity);
            let t = match tables.iter().position(|t| t.field == field) {
                Some(t) => t,
                None => {
                    tables.push(EntityTable::new(field, entity));
                    tables.len() - 1
                }
            };
            let table = &mut tables[t];
            table.span = table.span.max(span);
            let slot = slot.map(|name| {
                let f = index(name);
                match table.slots.iter().position(|s| *s == f) {
                    Some(s) => s,
                    None => {
                        table.slots.push(f);
                        table.slots.len() - 1
                    }
                }
            });
            (t, slot)
        };
        let mut positions = Vec::new();
        let mut position = 0;
        let mut columns = Vec::new();
        for feature in &spec.features {
            let width = match &feature.one_hot {
                Some(field) => spec.field(field).map_or(0, |f| f.values.len()),
                None => 1,
            };
            position += width;
            if !keep(feature) {
                continue;
            }
            positions.extend(position - width..position);
            let column = if let Some(field) = &feature.value {
                Column::Value(index(field))
            } else if let Some(field) = &feature.one_hot {
                let values = spec.field(field).map_or(0, |f| f.values.len());
                Column::OneHot {
                    field: index(field),
                    values,
                }
            } else if let Some(text) = &feature.expr {
                let expr = Expr::parse(text).unwrap_or(Expr::All(Vec::new()));
                Column::Expr(expr.resolve(|name| index(name)))
            } else if let Some(part) = feature.time {
                Column::Time(part)
            } else if let Some(w) = &feature.window {
                let (t, slot) = table(&w.entity, w.field.as_deref(), w.over.millis());
                Column::Window {
                    table: t,
                    agg: w.agg,
                    slot,
                    over: w.over.millis(),
                    current: w.current,
                }
            } else if let Some(h) = &feature.history {
                let (t, slot) = table(&h.entity, h.field.as_deref(), h.over.millis());
                Column::History {
                    table: t,
                    measure: h.measure,
                    slot,
                    over: h.over.millis(),
                }
            } else if let Some(r) = &feature.risk {
                let (t, _) = table(&r.entity, None, r.over.millis() + delay);
                Column::Risk {
                    table: t,
                    measure: r.measure,
                    over: r.over.millis(),
                    delay,
                }
            } else {
                continue; // a checked spec gives every feature a kind
            };
            columns.push(column);
        }
        FeatureEngine {
            width: positions.len(),
            positions,
            columns,
            tables,
            id_field: spec
                .fields
                .iter()
                .position(|f| f.role == super::FieldRole::Id),
            labels_from_records: true,
            seen: 0,
            taken: Vec::new(),
        }
    }

    /// This engine, taking labels only through [`FeatureEngine::apply_label`] (a record's own
    /// label, which a live transaction does not have, is ignored).
    pub fn labels_applied(mut self) -> FeatureEngine {
        self.labels_from_records = false;
        self
    }

    /// This engine, keeping at most `limits` in each entity table ([`EntityLimits`]): online,
    /// where memory must be bounded. Until a limit is reached, the features are those of an
    /// engine without limits, bit for bit.
    pub fn limited(mut self, limits: EntityLimits) -> FeatureEngine {
        for table in &mut self.tables {
            table.limit(limits);
        }
        self
    }

    /// Each entity table's size and evictions, in the order its entity's features first appear.
    pub fn tables(&self) -> impl Iterator<Item = TableUse<'_>> {
        self.tables.iter().map(EntityTable::usage)
    }

    /// Where each value [`FeatureEngine::observe`] gives goes in the spec's whole feature vector.
    pub fn positions(&self) -> &[usize] {
        &self.positions
    }

    /// The id a remembered transaction is known by: its `id` field's value — an integer as it
    /// is, text hashed (0 when the spec has no id field).
    pub fn id_of(&self, record: &Record) -> u64 {
        self.id_field.map_or(0, |f| match &record.values[f] {
            Value::Integer(n) => *n as u64,
            Value::Text(t) => fnv1a(t.as_bytes()),
            other => other.number().to_bits(),
        })
    }

    /// [`FeatureEngine::id_of`] for an id written as text (a label's `tx_id`).
    pub fn id_of_text(&self, tx_id: &str) -> u64 {
        match tx_id.parse::<i64>() {
            Ok(n) => n as u64,
            Err(_) => fnv1a(tx_id.as_bytes()),
        }
    }

    /// Records that the transaction `id` (see [`FeatureEngine::id_of`]) of entity `key` in the
    /// spec's field `entity`, at `event_time_ms`, is fraud or not. `false` when no table of this
    /// engine remembers it (an entity it has no feature of, or a transaction older than every
    /// window): the label cannot change any value this engine will give.
    pub fn apply_label(
        &mut self,
        entity: usize,
        key: &Value,
        event_time_ms: i64,
        id: u64,
        is_fraud: bool,
    ) -> bool {
        let key = Key::of(key);
        let mut found = false;
        for table in self.tables.iter_mut().filter(|t| t.field == entity) {
            if let Some(events) = table.events_mut(&key) {
                for event in events
                    .iter_mut()
                    .filter(|e| e.time == event_time_ms && e.id == id)
                {
                    event.label = Some(is_fraud);
                    found = true;
                }
            }
        }
        found
    }

    /// How many values [`FeatureEngine::observe`] gives per record.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The features of `record` given every record observed before it, written to `out` (of
    /// [`FeatureEngine::width`]); then `record` is remembered for the records after it.
    pub fn observe(&mut self, record: &Record, out: &mut Vec<f64>) {
        out.clear();
        let now = record.event_time_ms;
        // Each table's entity history for this record, taken out of its map while the columns
        // read it, and put back with this record added.
        let mut taken = std::mem::take(&mut self.taken);
        for table in &mut self.tables {
            let key = Key::of(&record.values[table.field]);
            let events = table.take(&key, now);
            taken.push((key, events));
        }
        for column in &self.columns {
            out_push(column, record, &self.tables, &taken, now, out);
        }
        let id = self.id_of(record);
        let label = if self.labels_from_records {
            record.label
        } else {
            None
        };
        for (table, (key, events)) in self.tables.iter_mut().zip(taken.drain(..)) {
            let values = table
                .slots
                .iter()
                .map(|f| slot_value(&record.values[*f]))
                .collect();
            let event = Event {
                time: now,
                id,
                label,
                values,
            };
            table.put_back(key, events, event, self.seen);
        }
        self.taken = taken;
        self.seen += 1;
        if self.seen.is_multiple_of(SWEEP_EVERY) {
            for table in &mut self.tables {
                table.sweep(now);
            }
        }
    }

    /// Entities remembered, over every entity field.
    pub fn entities(&self) -> usize {
        self.tables.iter().map(EntityTable::len).sum()
    }
}

/// Appends `column`'s value(s) for `record` at `now`, given each table's history of its entity.
fn out_push(
    column: &Column,
    record: &Record,
    tables: &[EntityTable],
    taken: &[(Key, VecDeque<Event>)],
    now: i64,
    out: &mut Vec<f64>,
) {
    let own = |table: usize, slot: Option<usize>| {
        slot.map_or(0.0, |s| slot_value(&record.values[tables[table].slots[s]]))
    };
    match column {
        Column::Value(field) => out.push(record.values[*field].number()),
        Column::OneHot { field, values } => {
            let at = match record.values[*field] {
                Value::Enum(i) => i,
                _ => usize::MAX,
            };
            out.extend((0..*values).map(|i| f64::from(u8::from(i == at))));
        }
        Column::Expr(expr) => out.push(expr.eval(|field| record.values[*field].number())),
        Column::Time(part) => out.push(time_part(*part, now)),
        Column::Window {
            table,
            agg,
            slot,
            over,
            current,
        } => {
            let events = &taken[*table].1;
            let recent = events
                .iter()
                .filter(|e| e.time > now - over && e.time <= now)
                .map(|e| slot.map_or(0.0, |s| e.values[s]));
            let this = current.then(|| own(*table, *slot));
            out.push(aggregate(*agg, recent.chain(this)));
        }
        Column::History {
            table,
            measure,
            slot,
            over,
        } => {
            let events = &taken[*table].1;
            let own = own(*table, *slot);
            let recent = || {
                events
                    .iter()
                    .filter(|e| e.time > now - over && e.time <= now)
            };
            out.push(match measure {
                HistoryMeasure::RatioToMean => {
                    let values = recent().map(|e| slot.map_or(0.0, |s| e.values[s]));
                    let (n, mean) = (recent().count(), aggregate(Aggregate::Mean, values));
                    if n == 0 || mean == 0.0 {
                        1.0
                    } else {
                        own / mean
                    }
                }
                HistoryMeasure::SecondsSincePrevious => {
                    recent().next_back().map_or(*over, |e| now - e.time) as f64 / 1000.0
                }
                HistoryMeasure::NewValue => {
                    f64::from(u8::from(!recent().any(|e| {
                        slot.is_some_and(|s| e.values[s].to_bits() == own.to_bits())
                    })))
                }
            });
        }
        Column::Risk {
            table,
            measure,
            over,
            delay,
        } => {
            let end = now - delay;
            let (mut count, mut frauds) = (0u32, 0u32);
            let (mut first_fraud, mut last_fraud) = (None, None);
            for e in taken[*table]
                .1
                .iter()
                .filter(|e| e.time > end - over && e.time <= end)
            {
                count += 1;
                if e.label == Some(true) {
                    frauds += 1;
                    first_fraud = first_fraud.or(Some(e.time));
                    last_fraud = Some(e.time);
                }
            }
            // Ages in seconds; with no fraud known, the window's whole reach.
            let age = |at: Option<i64>| (now - at.unwrap_or(end - over)) as f64 / 1000.0;
            out.push(match measure {
                RiskMeasure::Count => f64::from(count),
                RiskMeasure::Frauds => f64::from(frauds),
                RiskMeasure::Share if count == 0 => 0.0,
                RiskMeasure::Share => f64::from(frauds) / f64::from(count),
                RiskMeasure::FirstFraudAge => age(first_fraud),
                RiskMeasure::LastFraudAge => age(last_fraud),
            });
        }
    }
}

fn time_part(part: TimePart, ms: i64) -> f64 {
    let hour = super::time::hour(ms);
    let day = super::time::day_of_week(ms);
    match part {
        TimePart::Hour => hour as f64,
        TimePart::Night => f64::from(u8::from(hour <= 6)),
        TimePart::Weekend => f64::from(u8::from(day >= 5)),
        TimePart::DayOfWeek => day as f64,
    }
}

/// `agg` of `values`, in order (0 over none; a standard deviation 0 over fewer than two).
fn aggregate(agg: Aggregate, values: impl Iterator<Item = f64> + Clone) -> f64 {
    let (mut n, mut sum, mut max) = (0usize, 0.0, f64::NEG_INFINITY);
    for x in values.clone() {
        n += 1;
        sum += x;
        max = max.max(x);
    }
    let count = n as f64;
    match agg {
        Aggregate::Count => count,
        Aggregate::Sum => sum,
        Aggregate::Mean | Aggregate::Max if n == 0 => 0.0,
        Aggregate::Mean => sum / count,
        Aggregate::Max => max,
        Aggregate::Std if n < 2 => 0.0,
        Aggregate::Std => {
            let mean = sum / count;
            (values.map(|x| (x - mean) * (x - mean)).sum::<f64>() / count).sqrt()
        }
    }
}
