//! A *spec*: one shape of transaction data, declared in a TOML file (`specs/*.toml`,
//! docs/your-data.md) instead of written in Rust. It names the record's fields — each with a type
//! and a role — says how event time is read and when labels become known, and declares the
//! features a model is trained and scored on: fields and derivations, one-hot enums, per-entity
//! windows, the transaction against its entity's history, and label-delayed entity risk.
//!
//! [`Spec::from_toml`] checks a spec whole: an unknown key, a feature that names no field or a
//! field of the wrong kind, a window out of range — each is refused with one line naming the
//! field or feature and what to fix, and nothing of the spec is used.

mod check;
pub mod duration;
pub mod engine;
pub mod entities;
pub mod expr;
pub mod merge;
pub mod record;
pub mod time;
pub mod wire;

use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use duration::Duration;

/// `specs/paysim.toml`, built in: PaySim is the spec when none is given.
const PAYSIM_TOML: &str = include_str!("../../../specs/paysim.toml");

/// A checked spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Its name, e.g. `paysim` or `cards`.
    pub name: String,
    /// What data it describes, for people.
    #[serde(default)]
    pub description: String,
    /// How event time is read.
    pub time: TimeSpec,
    /// The label field and when labels become known, if the data carries labels.
    #[serde(default)]
    pub label: Option<LabelSpec>,
    /// The record's fields, in any order (CSV columns are matched by name).
    #[serde(rename = "field")]
    pub fields: Vec<FieldSpec>,
    /// The features, in the order the model sees them.
    #[serde(rename = "feature")]
    pub features: Vec<FeatureSpec>,
    /// How models of this data are judged beyond AUC and precision, if the spec says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<EvaluationSpec>,
    /// How a forest on this data trains best, unless the trainer's flags say otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingSpec>,
    /// How its transactions travel on Kafka: the key, and the Avro record's names
    /// ([`wire`]; defaults when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire: Option<wire::WireSpec>,
}

/// A spec's training defaults: each used when its `aegis-trainer train` flag is not given
/// (chosen on earlier data than the model is judged on — docs/your-data.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    /// `--trees`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<usize>,
    /// `--max-depth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u16>,
    /// `--min-samples-leaf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples_leaf: Option<usize>,
    /// `--features-per-split`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features_per_split: Option<usize>,
    /// `--fraud-weight`: a fraud row's weight against a legit row's 1 (balanced when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraud_weight: Option<f64>,
}

/// What `evaluate` adds for this data: the Handbook's Card Precision@k, keyed by an entity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationSpec {
    /// The entity an investigator blocks (role `entity`): the card.
    pub entity: String,
    /// How many of them a team can check a day.
    #[serde(default = "hundred")]
    pub k: usize,
}

fn hundred() -> usize {
    100
}

/// One field of the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The column name.
    pub name: String,
    /// What it holds.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// What it means to Aegis.
    #[serde(default)]
    pub role: FieldRole,
    /// For an `enum` field: every value it may take, in order (a one-hot feature has one column
    /// per value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// What it means, for people: the Avro field's `doc`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
    /// Its name in the Avro record on Kafka, when not `name` (PaySim's `nameOrig` is
    /// `name_orig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire: Option<String>,
    /// Whether it travels on Kafka (`false`: read from files only, and no feature may use it).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub on_wire: bool,
    /// For an `enum` field: the Avro enum type's name, when not the wire name in CamelCase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enum_name: Option<String>,
}

fn is_true(b: &bool) -> bool {
    *b
}

/// What a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Text, e.g. an account or card id.
    String,
    /// A whole number (a label is 0 or 1).
    Integer,
    /// A number.
    Float,
    /// A point in time, read as [`TimeSpec::format`] says.
    Timestamp,
    /// One of the declared `values`.
    Enum,
}

/// What a field means to Aegis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldRole {
    /// Identifies the transaction (predictions are written with it).
    Id,
    /// When it happened: the field [`TimeSpec::field`] names.
    EventTime,
    /// A key that features are grouped by: card, terminal, account, device.
    Entity,
    /// The money moved.
    Amount,
    /// The ground truth, 1 = fraud: never a feature's input except through label-delayed risk.
    Label,
    /// Anything else.
    #[default]
    Plain,
}

/// How event time is read from its field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    /// The field that holds it.
    pub field: String,
    /// How it is written.
    pub format: TimeFormat,
}

/// How a time is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// `YYYY-MM-DD HH:MM:SS` (or with a `T`, and fractions of a second), no zone: read as UTC.
    Naive,
    /// RFC 3339 with a zone: `2018-04-01T00:00:31+02:00` or `…Z`.
    Zoned,
    /// Milliseconds since the Unix epoch.
    EpochMillis,
    /// PaySim's hourly `step` (1 = the first hour): the start of that hour.
    PaysimStep,
}

/// The label and its delay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSpec {
    /// The field holding it (role `label`).
    pub field: String,
    /// How long after its transaction a label is known (a chargeback takes days): risk features
    /// count a label only once this much event time has passed.
    #[serde(default)]
    pub delay: Duration,
}

/// One declared feature. Exactly one of the kinds is given; `name` names the model's column
/// (a one-hot feature names one column per value, `<field>_<VALUE>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    /// The column's name (not given for `one_hot`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A numeric field's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// One column per value of an enum field: 1 for the record's value, 0 for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_hot: Option<String>,
    /// Numeric fields added and subtracted left to right (`a + b - c`), or comparisons joined by
    /// `and` giving 1 or 0 (`a > 0 and b == 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
    /// A calendar feature of the event time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimePart>,
    /// An aggregate over the entity's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowSpec>,
    /// The transaction against its entity's history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistorySpec>,
    /// The entity's fraud, from labels known by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<RiskSpec>,
}

impl FeatureSpec {
    /// What the feature's column holds, in words (`docs/rules.md`'s generated tables). A one-hot
    /// feature's columns are described by [`Spec::feature_descriptions`].
    pub fn describe(&self) -> String {
        let of = |field: &Option<String>| field.as_deref().unwrap_or("").to_owned();
        if let Some(field) = &self.value {
            format!("the field `{field}`")
        } else if let Some(expr) = &self.expr {
            format!("`{expr}`")
        } else if let Some(part) = self.time {
            match part {
                TimePart::Hour => "the event time's hour, 0–23 (UTC)".into(),
                TimePart::Night => "1 from 00:00 to 06:59 (UTC), else 0".into(),
                TimePart::Weekend => "1 on Saturday and Sunday (UTC), else 0".into(),
                TimePart::DayOfWeek => "the day of the week, 0 = Monday … 6 = Sunday".into(),
            }
        } else if let Some(w) = &self.window {
            let now = if w.current {
                "this one included"
            } else {
                "before this one"
            };
            let what = match w.agg {
                Aggregate::Count => "the number".to_owned(),
                Aggregate::Sum => format!("the total `{}`", of(&w.field)),
                Aggregate::Mean => format!("the mean `{}`", of(&w.field)),
                Aggregate::Max => format!("the largest `{}`", of(&w.field)),
                Aggregate::Std => format!("the standard deviation of `{}`", of(&w.field)),
            };
            format!(
                "{what} of the `{}`'s transactions in the last {}, {now}",
                w.entity, w.over
            )
        } else if let Some(h) = &self.history {
            match h.measure {
                HistoryMeasure::RatioToMean => format!(
                    "`{}` ÷ its mean over the `{}`'s earlier transactions within {}",
                    of(&h.field),
                    h.entity,
                    h.over
                ),
                HistoryMeasure::SecondsSincePrevious => format!(
                    "seconds since the `{}`'s previous transaction within {}",
                    h.entity, h.over
                ),
                HistoryMeasure::NewValue => format!(
                    "1 when `{}` was not seen for the `{}` within {}",
                    of(&h.field),
                    h.entity,
                    h.over
                ),
            }
        } else if let Some(r) = &self.risk {
            let what = match r.measure {
                RiskMeasure::Count => "the number of transactions",
                RiskMeasure::Frauds => "the number of known frauds",
                RiskMeasure::Share => "the share of known frauds",
                RiskMeasure::FirstFraudAge => "seconds since the oldest known fraud",
                RiskMeasure::LastFraudAge => "seconds since the latest known fraud",
            };
            format!(
                "{what} of the `{}` in a {} window ending the label delay before this transaction",
                r.entity, r.over
            )
        } else {
            String::new()
        }
    }

    /// The entity field this feature groups by (a window's, a history's or a risk's), if any.
    pub fn entity(&self) -> Option<&str> {
        self.window
            .as_ref()
            .map(|w| w.entity.as_str())
            .or(self.history.as_ref().map(|h| h.entity.as_str()))
            .or(self.risk.as_ref().map(|r| r.entity.as_str()))
    }
}

/// A calendar feature of the event time (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimePart {
    /// 0–23.
    Hour,
    /// 1 from 00:00 to 06:59, else 0 (the Handbook's night: hour ≤ 6).
    Night,
    /// 1 on Saturday and Sunday, else 0.
    Weekend,
    /// 0 = Monday … 6 = Sunday.
    DayOfWeek,
}

/// An aggregate of an entity's transactions within `over` of event time before this one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// The entity field to group by.
    pub entity: String,
    /// What to aggregate.
    pub agg: Aggregate,
    /// The numeric field aggregated (not for `count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The window's length: an hour to 30 days.
    pub over: Duration,
    /// Whether the transaction itself is in its window (the Handbook's are).
    #[serde(default = "yes")]
    pub current: bool,
}

fn yes() -> bool {
    true
}

/// An aggregate over a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// How many transactions.
    Count,
    /// Their field summed.
    Sum,
    /// Its mean (0 over none).
    Mean,
    /// Its largest value (0 over none).
    Max,
    /// Its population standard deviation (0 over fewer than two).
    Std,
}

/// The transaction against what its entity did before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySpec {
    /// The entity field.
    pub entity: String,
    /// What to measure.
    pub measure: HistoryMeasure,
    /// The field it is about: numeric for `ratio_to_mean`, any for `new_value`; not for
    /// `seconds_since_previous`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The history's length: an hour to 30 days.
    pub over: Duration,
}

/// A measure of the transaction against its entity's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryMeasure {
    /// The field ÷ its mean over the entity's earlier transactions within `over` (1 with none
    /// before, or a zero mean): a card that suddenly spends five times its habit.
    RatioToMean,
    /// Seconds since the entity's previous transaction within `over` (`over` in seconds when none).
    SecondsSincePrevious,
    /// 1 when the field's value was not seen for this entity within `over` (a new destination).
    NewValue,
}

/// An entity's fraud over `over` of event time, ending the label delay before the transaction:
/// only labels that would have arrived by then count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSpec {
    /// The entity field.
    pub entity: String,
    /// What to measure.
    pub measure: RiskMeasure,
    /// The window's length, ending [`LabelSpec::delay`] before the transaction.
    pub over: Duration,
}

/// A measure of an entity's known fraud.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskMeasure {
    /// Its transactions in the window.
    Count,
    /// Frauds among them.
    Frauds,
    /// Frauds ÷ transactions (0 with none).
    Share,
    /// Seconds from the oldest fraud in the window to this transaction (the window's whole
    /// reach, `over` + delay, with none): how long a known compromise has been running.
    FirstFraudAge,
    /// Seconds from the latest fraud in the window to this transaction (the window's whole
    /// reach with none): how recently the entity was known to be used for fraud.
    LastFraudAge,
}

/// A spec that cannot be used: one line naming the file, the field or feature, and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("spec {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Not TOML, or not of the documented shape.
    #[error("spec {path}: {problem}")]
    Shape {
        /// The file.
        path: String,
        /// The parser's words, with the line.
        problem: String,
    },
    /// Of the right shape, but something in it is wrong.
    #[error("spec {path}: {at}: {problem}")]
    Invalid {
        /// The file.
        path: String,
        /// The field or feature, e.g. ``feature `card_mean_7d` window.over``.
        at: String,
        /// What to fix.
        problem: String,
    },
}

impl Spec {
    /// Reads and checks the spec in `path`.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Spec::from_toml(&path.display().to_string(), &text)
    }

    /// Parses and checks a spec; `path` names it in errors.
    pub fn from_toml(path: &str, text: &str) -> Result<Spec, SpecError> {
        let spec: Spec = toml::from_str(text).map_err(|e| SpecError::Shape {
            path: path.to_owned(),
            problem: e.to_string().replace('\n', " ").trim().to_owned(),
        })?;
        spec.check().map_err(|(at, problem)| SpecError::Invalid {
            path: path.to_owned(),
            at,
            problem,
        })?;
        Ok(spec)
    }

    /// The PaySim spec this build computes its own features by (`specs/paysim.toml`, built in):
    /// the default when no spec is given.
    pub fn paysim() -> &'static Spec {
        static PAYSIM: OnceLock<Spec> = OnceLock::new();
        PAYSIM.get_or_init(|| {
            // Checked by this crate's tests; a build whose PaySim spec does not load is broken.
            Spec::from_toml("specs/paysim.toml", PAYSIM_TOML)
                .unwrap_or_else(|e| panic!("the built-in PaySim spec: {e}"))
        })
    }

    /// Whether this is the built-in PaySim spec (same content, whatever its comments).
    pub fn is_paysim(&self) -> bool {
        self.hash() == Spec::paysim().hash()
    }

    /// The field with role `id`, if any.
    pub fn id_field(&self) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.role == FieldRole::Id)
    }

    /// How long after its transaction a label is known (zero without a label).
    pub fn label_delay(&self) -> Duration {
        self.label.as_ref().map(|l| l.delay).unwrap_or_default()
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The model's column names, in order (a one-hot feature gives one per value).
    pub fn feature_names(&self) -> Vec<String> {
        self.features
            .iter()
            .flat_map(|f| match &f.one_hot {
                Some(field) => self
                    .field(field)
                    .map(|e| e.values.iter().map(|v| format!("{field}_{v}")).collect())
                    .unwrap_or_default(),
                None => vec![f.name.clone()],
            })
            .collect()
    }

    /// Each model column's name and what it holds, in [`Spec::feature_names`] order.
    pub fn feature_descriptions(&self) -> Vec<(String, String)> {
        self.features
            .iter()
            .flat_map(|f| match &f.one_hot {
                Some(field) => self
                    .field(field)
                    .map(|e| {
                        e.values
                            .iter()
                            .map(|v| {
                                (
                                    format!("{field}_{v}"),
                                    format!("1 when `{field}` is {v}, else 0"),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                None => vec![(f.name.clone(), f.describe())],
            })
            .collect()
    }

    /// A hash of the spec's content (SHA-256 of its canonical JSON, hex): two specs that read
    /// and compute alike hash alike, whatever their comments, layout, docs and wire names (a
    /// model's features do not depend on those, so documenting a spec keeps its models valid).
    pub fn hash(&self) -> String {
        let mut computing = self.clone();
        computing.wire = None;
        for field in &mut computing.fields {
            field.doc.clear();
            field.wire = None;
            field.on_wire = true;
            field.enum_name = None;
        }
        let canonical = serde_json::to_vec(&computing).unwrap_or_default();
        let digest = Sha256::digest(&canonical);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests;
