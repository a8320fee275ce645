//! Checking a spec whole before anything uses it. Every problem is `(where, what to fix)`:
//! where is ``field `x` `` or ``feature `y` window.over``.

use std::collections::HashSet;

use super::expr::Expr;
use super::wire::{WireSlot, EVENT_TIME, TX_ID};
use super::{
    Aggregate, Duration, FeatureSpec, FieldRole, FieldSpec, FieldType, HistoryMeasure, Spec,
    TimeFormat, TrainingSpec,
};
use crate::forest::ForestParams;

/// A problem: where it is, and what to fix.
type Problem = (String, String);

/// Shortest window a feature may have.
const SHORTEST: Duration = Duration::HOUR;
/// Longest window a feature may have.
const LONGEST: Duration = Duration::days(30);

impl Spec {
    pub(super) fn check(&self) -> Result<(), Problem> {
        if self.name.trim().is_empty() {
            return Err(("name".into(), "the spec needs a name".into()));
        }
        self.check_fields()?;
        self.check_time_and_label()?;
        if self.features.is_empty() {
            return Err(("feature".into(), "declare at least one feature".into()));
        }
        for feature in &self.features {
            self.check_feature(feature).map_err(|(at, problem)| {
                let feature = format!("feature `{}`", label(feature));
                let at = if at.is_empty() {
                    feature
                } else {
                    format!("{feature} {at}")
                };
                (at, problem)
            })?;
        }
        if let Some(evaluation) = &self.evaluation {
            self.entity("evaluation.entity", &evaluation.entity)?;
            if evaluation.k == 0 {
                return Err(("evaluation.k".into(), "at least 1".into()));
            }
        }
        if let Some(training) = &self.training {
            self.check_training(training)?;
        }
        self.check_wire()?;
        let mut names = HashSet::new();
        for name in self.feature_names() {
            if !names.insert(name.clone()) {
                return Err((
                    format!("feature `{name}`"),
                    "two features have this name".into(),
                ));
            }
        }
        Ok(())
    }

    fn check_fields(&self) -> Result<(), Problem> {
        if self.fields.is_empty() {
            return Err(("field".into(), "declare the record's fields".into()));
        }
        let mut names = HashSet::new();
        for field in &self.fields {
            let at = || format!("field `{}`", field.name);
            if field.name.trim().is_empty() {
                return Err(("field".into(), "a field without a name".into()));
            }
            if !names.insert(field.name.as_str()) {
                return Err((at(), "declared twice".into()));
            }
            match (field.kind, field.values.is_empty()) {
                (FieldType::Enum, true) => {
                    return Err((at(), "an enum field lists its `values`".into()))
                }
                (FieldType::Enum, false) => {
                    let distinct: HashSet<_> = field.values.iter().collect();
                    if distinct.len() != field.values.len() {
                        return Err((at(), "a value is listed twice".into()));
                    }
                }
                (_, false) => return Err((at(), "only an enum field has `values`".into())),
                (_, true) => {}
            }
        }
        for role in [FieldRole::Id, FieldRole::EventTime, FieldRole::Label] {
            let with: Vec<&FieldSpec> = self.fields.iter().filter(|f| f.role == role).collect();
            if with.len() > 1 {
                return Err((
                    format!("field `{}`", with[1].name),
                    format!("only one field may have role {role:?}"),
                ));
            }
        }
        Ok(())
    }

    fn check_time_and_label(&self) -> Result<(), Problem> {
        let at = || format!("time.field `{}`", self.time.field);
        let field = self
            .field(&self.time.field)
            .ok_or_else(|| (at(), "no such field".into()))?;
        if field.role != FieldRole::EventTime {
            return Err((at(), "give it role = \"event_time\"".into()));
        }
        let fits = match self.time.format {
            TimeFormat::Naive | TimeFormat::Zoned => field.kind == FieldType::Timestamp,
            TimeFormat::EpochMillis | TimeFormat::PaysimStep => field.kind == FieldType::Integer,
        };
        if !fits {
            return Err((
                at(),
                format!(
                    "format {:?} reads a field of type {}",
                    self.time.format,
                    match self.time.format {
                        TimeFormat::Naive | TimeFormat::Zoned => "timestamp",
                        _ => "integer",
                    }
                ),
            ));
        }
        let labelled = self.fields.iter().find(|f| f.role == FieldRole::Label);
        match (&self.label, labelled) {
            (None, None) => Ok(()),
            (None, Some(f)) => Err((
                format!("field `{}`", f.name),
                "a label field needs a [label] table naming it".into(),
            )),
            (Some(label), _) => {
                let at = || format!("label.field `{}`", label.field);
                let field = self
                    .field(&label.field)
                    .ok_or_else(|| (at(), "no such field".into()))?;
                if field.role != FieldRole::Label || field.kind != FieldType::Integer {
                    return Err((at(), "give it type = \"integer\", role = \"label\"".into()));
                }
                if label.delay > Duration::days(60) {
                    return Err(("label.delay".into(), "at most 60 days".into()));
                }
                Ok(())
            }
        }
    }

    fn check_feature(&self, feature: &FeatureSpec) -> Result<(), Problem> {
        let kinds = [
            feature.value.is_some(),
            feature.one_hot.is_some(),
            feature.expr.is_some(),
            feature.time.is_some(),
            feature.window.is_some(),
            feature.history.is_some(),
            feature.risk.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err((
                String::new(),
                "give exactly one of value, one_hot, expr, time, window, history, risk".into(),
            ));
        }
        match (&feature.one_hot, feature.name.is_empty()) {
            (Some(_), false) => {
                return Err((
                    "name".into(),
                    "a one_hot feature is named by its values".into(),
                ))
            }
            (None, true) => return Err(("name".into(), "the feature needs a name".into())),
            _ => {}
        }
        if let Some(field) = &feature.value {
            self.numeric("value", field)?;
        }
        if let Some(field) = &feature.one_hot {
            let f = self.existing("one_hot", field)?;
            if f.kind != FieldType::Enum {
                return Err(("one_hot".into(), format!("`{field}` is not an enum field")));
            }
        }
        if let Some(text) = &feature.expr {
            let expr = Expr::parse(text).map_err(|e| ("expr".to_owned(), e))?;
            for field in expr.fields() {
                self.numeric("expr", field)?;
            }
        }
        if let Some(window) = &feature.window {
            self.entity("window.entity", &window.entity)?;
            span("window.over", window.over)?;
            match (window.agg, &window.field) {
                (Aggregate::Count, None) => {}
                (Aggregate::Count, Some(_)) => {
                    return Err(("window.field".into(), "a count takes no field".into()))
                }
                (_, Some(field)) => self.numeric("window.field", field)?,
                (agg, None) => {
                    return Err((
                        "window.field".into(),
                        format!("{agg:?} needs a numeric field"),
                    ))
                }
            }
        }
        if let Some(history) = &feature.history {
            self.entity("history.entity", &history.entity)?;
            span("history.over", history.over)?;
            match (history.measure, &history.field) {
                (HistoryMeasure::SecondsSincePrevious, None) => {}
                (HistoryMeasure::SecondsSincePrevious, Some(_)) => {
                    return Err(("history.field".into(), "takes no field".into()))
                }
                (HistoryMeasure::RatioToMean, Some(field)) => {
                    self.numeric("history.field", field)?
                }
                (HistoryMeasure::NewValue, Some(field)) => {
                    let f = self.existing("history.field", field)?;
                    if f.role == FieldRole::Label {
                        return Err((
                            "history.field".into(),
                            "the label is never a feature".into(),
                        ));
                    }
                }
                (measure, None) => {
                    return Err(("history.field".into(), format!("{measure:?} needs a field")))
                }
            }
        }
        if let Some(risk) = &feature.risk {
            self.entity("risk.entity", &risk.entity)?;
            span("risk.over", risk.over)?;
            if self.label.is_none() {
                return Err((
                    "risk".into(),
                    "risk needs labels: add a [label] table with its delay".into(),
                ));
            }
        }
        Ok(())
    }

    /// Training defaults in the ranges the trainer's flags allow.
    fn check_training(&self, training: &TrainingSpec) -> Result<(), Problem> {
        let defaults = ForestParams::default();
        ForestParams::default()
            .with_trees(training.trees.unwrap_or(defaults.trees))
            .with_max_depth(training.max_depth.unwrap_or(defaults.max_depth))
            .with_min_samples_leaf(
                training
                    .min_samples_leaf
                    .unwrap_or(defaults.min_samples_leaf),
            )
            .with_features_per_split(training.features_per_split)
            .check_width(self.feature_names().len())
            .map_err(|e| (format!("training.{}", e.name.replace('-', "_")), e.allowed))?;
        if let Some(w) = training.fraud_weight {
            if !(w.is_finite() && w > 0.0) {
                return Err(("training.fraud_weight".into(), "a positive number".into()));
            }
        }
        Ok(())
    }

    /// Avro names that are legal and distinct, the key an entity, and what the stream needs sent.
    fn check_wire(&self) -> Result<(), Problem> {
        let mut names: HashSet<&str> = HashSet::new();
        for slot in self.wire_slots() {
            let (at, name) = match slot {
                WireSlot::TxId => ("the added `tx_id`".to_owned(), TX_ID),
                WireSlot::EventTime => ("the added `event_time`".to_owned(), EVENT_TIME),
                WireSlot::Field(i) => {
                    let field = &self.fields[i];
                    (format!("field `{}` wire", field.name), field.wire_name())
                }
            };
            if !avro_name(name) {
                return Err((
                    at,
                    format!("`{name}` is not an Avro name ([A-Za-z_][A-Za-z0-9_]*)"),
                ));
            }
            if !names.insert(name) {
                return Err((at, format!("`{name}` names two fields on the wire")));
            }
        }
        for field in &self.fields {
            let at = || format!("field `{}`", field.name);
            if let Some(symbol) = field.values.iter().find(|v| !avro_name(v)) {
                return Err((
                    at(),
                    format!("value `{symbol}` is not an Avro enum symbol ([A-Za-z_][A-Za-z0-9_]*)"),
                ));
            }
            if let Some(name) = field.enum_name.as_deref().filter(|n| !avro_name(n)) {
                return Err((at(), format!("enum_name `{name}` is not an Avro name")));
            }
            let needed = field.role != FieldRole::Plain || field.name == self.time.field;
            if needed && !field.on_wire {
                return Err((
                    at(),
                    format!("role {:?} must be sent: remove on_wire = false", field.role),
                ));
            }
        }
        if let Some(key) = self.wire.as_ref().and_then(|w| w.key.as_deref()) {
            self.entity("wire.key", key)?;
        }
        Ok(())
    }

    fn existing(&self, at: &str, name: &str) -> Result<&FieldSpec, Problem> {
        let field = self
            .field(name)
            .ok_or_else(|| (at.to_owned(), format!("no field `{name}`")))?;
        if !field.on_wire {
            return Err((
                at.to_owned(),
                format!("`{name}` is not sent on Kafka (on_wire = false), so the scorer could not compute this"),
            ));
        }
        Ok(field)
    }

    fn numeric(&self, at: &str, name: &str) -> Result<(), Problem> {
        let f = self.existing(at, name)?;
        if f.role == FieldRole::Label {
            return Err((
                at.to_owned(),
                format!("`{name}` is the label: never a feature"),
            ));
        }
        if !matches!(f.kind, FieldType::Integer | FieldType::Float) {
            return Err((at.to_owned(), format!("`{name}` is not numeric")));
        }
        Ok(())
    }

    fn entity(&self, at: &str, name: &str) -> Result<(), Problem> {
        let f = self.existing(at, name)?;
        if f.role != FieldRole::Entity {
            return Err((
                at.to_owned(),
                format!("`{name}` is not an entity: give it role = \"entity\""),
            ));
        }
        Ok(())
    }
}

/// An Avro name: a letter or `_`, then letters, digits or `_`.
fn avro_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn span(at: &str, over: Duration) -> Result<(), Problem> {
    if over < SHORTEST || over > LONGEST {
        return Err((at.to_owned(), format!("{over} is not between 1h and 30d")));
    }
    Ok(())
}

/// How a feature is named in errors.
fn label(feature: &FeatureSpec) -> String {
    match &feature.one_hot {
        Some(field) => format!("one_hot {field}"),
        None => feature.name.clone(),
    }
}
