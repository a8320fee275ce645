//! Declarative rules beside the model: a named, versioned rule set in JSON, each rule a list of
//! conditions over the transaction, the model's score and the account's state features, all of
//! which must hold for it to fire, with an action and a reason. The seed rule set is
//! `deploy/rules/default.json`; the format is documented in `docs/rules.md`.
//!
//! A verdict's decision is the most severe of the model's and of every fired rule's action
//! (ALLOW < REVIEW < BLOCK): a rule can escalate, never let a transaction through that the model
//! stops — so an `ALLOW` rule only records that it fired (a rule tried in monitor mode). Fired rules
//! are listed on the verdict by name; names are a closed set per rule set version (they become
//! metric labels), so a rule set is refused unless every name is lowercase `a-z`, `0-9`, `_` and
//! unique.
//!
//! A rule set is checked whole when parsed — unknown fields, operators that do not fit a field's
//! kind, values of the wrong kind — so a bad one is refused with one line naming what to fix and
//! the rule set in use stays.
//!
//! What a condition can name depends on the data: PaySim's rules see its columns and the origin
//! account's state features ([`Field`]); a rule set for another spec is read against that spec
//! ([`RuleSet::from_json_for`]) and sees every feature the spec declares, its numeric, enum and
//! string fields, and the model's score ([`vocabulary`] lists them; `docs/rules.md`'s tables are
//! generated from it).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::account_state::StateFeatures;
use crate::spec::record::{Record, Value as RecordValue};
use crate::spec::{FieldRole, FieldType, Spec};
use crate::transaction::{Transaction, TxType};
use crate::verdict::{Decision, Verdict};

/// Most rules in one set.
pub const MAX_RULES: usize = 256;

/// A rule set as published: its name (the key on the rules topic), version and rules, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// The set's name.
    pub name: String,
    /// Its version, for logs (the scorer says which version it installed).
    pub version: u32,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// One rule: when every condition holds, `action`, because `reason`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Lowercase `a-z0-9_`, unique in the set: listed on verdicts and in metric labels.
    pub name: String,
    /// What the rule asks for.
    pub action: Decision,
    /// Why, in words: added to the verdict's reasons when it fires.
    pub reason: String,
    /// Conditions, all of which must hold (at least one).
    pub when: Vec<Condition>,
    /// `when` read against a spec other than PaySim's ([`RuleSet::from_json_for`]); empty for
    /// PaySim's rules.
    #[serde(skip)]
    bound: Vec<SpecCheck>,
}

/// `field op value`, e.g. `{"field": "drain_ratio", "op": ">=", "value": 0.9}`. The value is
/// typed when the rule set is read (a transaction type's name becomes a [`TxType`], an enum's
/// value its index), so nothing is parsed or looked up by name when a rule is evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// What is compared.
    pub field: FieldRef,
    /// How.
    pub op: Op,
    /// With what.
    pub value: Value,
}

/// A condition's field as written: one of PaySim's, or any other name, which only a spec's rule
/// set can resolve (a spec feature or field).
#[derive(Clone, Debug, PartialEq)]
pub enum FieldRef {
    /// A PaySim field or state feature.
    Paysim(Field),
    /// Another name.
    Named(String),
}

impl FieldRef {
    /// The name as written.
    pub fn name(&self) -> String {
        match self {
            FieldRef::Paysim(field) => field.name(),
            FieldRef::Named(name) => name.clone(),
        }
    }
}

impl Serialize for FieldRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for FieldRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<FieldRef, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(Field::from_name(&name).map_or(FieldRef::Named(name), FieldRef::Paysim))
    }
}

/// What a PaySim condition can look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    /// The transaction's type (a string: `TRANSFER`, …).
    #[serde(rename = "type")]
    Type,
    /// Its amount.
    #[serde(rename = "amount")]
    Amount,
    /// Origin balance before.
    #[serde(rename = "old_balance_orig")]
    OldBalanceOrig,
    /// Origin balance after.
    #[serde(rename = "new_balance_orig")]
    NewBalanceOrig,
    /// Destination balance before.
    #[serde(rename = "old_balance_dest")]
    OldBalanceDest,
    /// Destination balance after.
    #[serde(rename = "new_balance_dest")]
    NewBalanceDest,
    /// amount / origin balance before (0 when the balance is 0): 1 empties the account.
    #[serde(rename = "drain_ratio")]
    DrainRatio,
    /// The model's calibrated probability.
    #[serde(rename = "fraud_probability")]
    FraudProbability,
    /// State: previous transactions in the short window.
    #[serde(rename = "state.count_short")]
    CountShort,
    /// State: previous transactions in the long window.
    #[serde(rename = "state.count_long")]
    CountLong,
    /// State: their amounts summed, short window.
    #[serde(rename = "state.sum_short")]
    SumShort,
    /// State: their amounts summed, long window.
    #[serde(rename = "state.sum_long")]
    SumLong,
    /// State: seconds since the previous transaction (absent for the first: never holds).
    #[serde(rename = "state.seconds_since_previous")]
    SecondsSincePrevious,
    /// State: the previous transaction's type (a string).
    #[serde(rename = "state.previous_type")]
    PreviousType,
    /// State: the previous transaction's amount.
    #[serde(rename = "state.previous_amount")]
    PreviousAmount,
    /// State: whether the destination is new for this account (`true` / `false`).
    #[serde(rename = "state.new_destination")]
    NewDestination,
    /// State: the largest previous amount.
    #[serde(rename = "state.max_previous_amount")]
    MaxPreviousAmount,
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Equal.
    #[serde(rename = "==")]
    Eq,
    /// Not equal.
    #[serde(rename = "!=")]
    Ne,
    /// Less than.
    #[serde(rename = "<")]
    Lt,
    /// At most.
    #[serde(rename = "<=")]
    Le,
    /// More than.
    #[serde(rename = ">")]
    Gt,
    /// At least.
    #[serde(rename = ">=")]
    Ge,
}

/// A condition's value: a number, a transaction type, or a boolean — in JSON a number, a type's
/// name (`"TRANSFER"`) or `true`/`false`. A string that names no type is kept as
/// [`Value::Unknown`] so that the rule set is refused whole, with the rule's name, when checked.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// For numeric fields.
    Number(f64),
    /// For `type` and `state.previous_type`.
    Type(TxType),
    /// For `state.new_destination`.
    Bool(bool),
    /// A string that is no transaction type's name: never fits a field.
    Unknown(String),
}

/// A value as JSON writes it.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum JsonValue {
    Number(f64),
    Text(String),
    Bool(bool),
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Number(n) => JsonValue::Number(*n),
            Value::Type(t) => JsonValue::Text(t.as_str().to_owned()),
            Value::Bool(b) => JsonValue::Bool(*b),
            Value::Unknown(text) => JsonValue::Text(text.clone()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        Ok(match JsonValue::deserialize(deserializer)? {
            JsonValue::Number(n) => Value::Number(n),
            JsonValue::Bool(b) => Value::Bool(b),
            JsonValue::Text(text) => match text.parse::<TxType>() {
                Ok(t) => Value::Type(t),
                Err(_) => Value::Unknown(text),
            },
        })
    }
}

/// What one field holds for one transaction.
enum Actual {
    Number(Option<f64>),
    Type(Option<TxType>),
    Bool(bool),
}

/// The kind of value a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Number,
    Type,
    Bool,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Number => "a number",
            Kind::Type => "a transaction type",
            Kind::Bool => "true or false",
        }
    }
}

/// PaySim's fields, in the order `docs/rules.md` lists them, each with what it holds.
const PAYSIM_FIELDS: [(Field, &str); 17] = [
    (Field::Type, "the transaction's type: `CASH_IN`, `CASH_OUT`, `DEBIT`, `PAYMENT`, `TRANSFER`"),
    (Field::Amount, "the amount moved"),
    (Field::OldBalanceOrig, "the origin account's balance before"),
    (Field::NewBalanceOrig, "the origin account's balance after"),
    (Field::OldBalanceDest, "the destination's balance before"),
    (Field::NewBalanceDest, "the destination's balance after"),
    (
        Field::DrainRatio,
        "`amount / old_balance_orig` (0 when the balance is 0): 1 empties the account, 0.95 leaves 5 %",
    ),
    (Field::FraudProbability, "the model's calibrated probability"),
    (Field::CountShort, "the account's previous transactions in the last hour"),
    (Field::CountLong, "the account's previous transactions in the last day"),
    (Field::SumShort, "their amounts summed, last hour"),
    (Field::SumLong, "their amounts summed, last day"),
    (Field::SecondsSincePrevious, "seconds since the account's previous transaction"),
    (Field::PreviousType, "the previous transaction's type"),
    (Field::PreviousAmount, "the previous transaction's amount"),
    (
        Field::NewDestination,
        "the destination is not among the account's remembered ones",
    ),
    (Field::MaxPreviousAmount, "the largest amount the account moved while remembered"),
];

impl Field {
    /// Its name in a rule (`state.count_short`, …).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The field called `name`, if PaySim has one.
    pub fn from_name(name: &str) -> Option<Field> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }

    fn kind(self) -> Kind {
        match self {
            Field::Type | Field::PreviousType => Kind::Type,
            Field::NewDestination => Kind::Bool,
            _ => Kind::Number,
        }
    }

    fn of(self, input: &RuleInput<'_>) -> Actual {
        let (tx, s) = (input.tx, input.state);
        let n = |v: f64| Actual::Number(Some(v));
        match self {
            Field::Type => Actual::Type(Some(tx.tx_type)),
            Field::Amount => n(tx.amount),
            Field::OldBalanceOrig => n(tx.old_balance_orig),
            Field::NewBalanceOrig => n(tx.new_balance_orig),
            Field::OldBalanceDest => n(tx.old_balance_dest),
            Field::NewBalanceDest => n(tx.new_balance_dest),
            Field::DrainRatio => n(if tx.old_balance_orig > 0.0 {
                tx.amount / tx.old_balance_orig
            } else {
                0.0
            }),
            Field::FraudProbability => n(input.fraud_probability),
            Field::CountShort => n(f64::from(s.count_short)),
            Field::CountLong => n(f64::from(s.count_long)),
            Field::SumShort => n(s.sum_short),
            Field::SumLong => n(s.sum_long),
            Field::SecondsSincePrevious => Actual::Number(s.seconds_since_previous),
            Field::PreviousType => Actual::Type(s.previous_type),
            Field::PreviousAmount => Actual::Number(s.previous_amount),
            Field::NewDestination => Actual::Bool(s.new_destination),
            Field::MaxPreviousAmount => n(s.max_previous_amount),
        }
    }
}

impl Op {
    fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        }
    }

    fn is_equality(self) -> bool {
        matches!(self, Op::Eq | Op::Ne)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        })
    }
}

/// Everything a PaySim rule can look at for one transaction.
pub struct RuleInput<'a> {
    /// The transaction.
    pub tx: &'a Transaction,
    /// The model's calibrated probability.
    pub fraud_probability: f64,
    /// The account's state features before this transaction.
    pub state: &'a StateFeatures,
}

/// Why a rule set was refused.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// Not JSON, or not of the documented shape.
    #[error("not a rule set: {0}")]
    Shape(#[from] serde_json::Error),
    /// Of the right shape, but a rule is wrong.
    #[error("rule set {set}: {problem}")]
    Invalid {
        /// The set's name.
        set: String,
        /// What to fix.
        problem: String,
    },
}

impl Condition {
    /// Whether the value and operator fit the PaySim field; the message says what to fix.
    fn check(&self) -> Result<(), String> {
        let field = match &self.field {
            FieldRef::Paysim(field) => *field,
            FieldRef::Named(name) => {
                return Err(format!(
                    "unknown field `{name}`; PaySim's rules take {} (docs/rules.md)",
                    PAYSIM_FIELDS.map(|(f, _)| f.name()).join(", ")
                ))
            }
        };
        let kind = field.kind();
        let fits = match (&self.value, kind) {
            (Value::Number(v), Kind::Number) => v.is_finite(),
            (Value::Type(_), Kind::Type) | (Value::Bool(_), Kind::Bool) => self.op.is_equality(),
            _ => false,
        };
        if fits {
            Ok(())
        } else {
            Err(format!(
                "`{} {} {}` does not fit: the field is {}{}",
                field.name(),
                self.op,
                serde_json::to_string(&self.value).unwrap_or_default(),
                kind.describe(),
                if kind == Kind::Number {
                    ""
                } else {
                    ", compared with == or !="
                }
            ))
        }
    }

    fn holds(&self, input: &RuleInput<'_>) -> bool {
        let FieldRef::Paysim(field) = &self.field else {
            return false; // refused when the set was read
        };
        match (field.of(input), &self.value) {
            (Actual::Number(Some(a)), Value::Number(b)) => self.op.holds(a, *b),
            (Actual::Type(Some(a)), Value::Type(b)) => self.op.holds(a, *b),
            (Actual::Bool(a), Value::Bool(b)) => self.op.holds(a, *b),
            // An absent state value (the account's first transaction) never satisfies a condition.
            _ => false,
        }
    }
}

impl RuleSet {
    /// Parses and checks a rule set for PaySim.
    pub fn from_json(bytes: &[u8]) -> Result<RuleSet, RuleError> {
        RuleSet::from_json_for(bytes, Spec::paysim())
    }

    /// Parses a rule set and checks it against `spec`: for PaySim, against its fields and state
    /// features; for another spec, each condition is bound to the spec's feature or field it names.
    pub fn from_json_for(bytes: &[u8], spec: &Spec) -> Result<RuleSet, RuleError> {
        let mut set: RuleSet = serde_json::from_slice(bytes)?;
        set.check().map_err(|problem| RuleError::Invalid {
            set: set.name.clone(),
            problem,
        })?;
        if !spec.is_paysim() {
            let features = spec.feature_names();
            for rule in &mut set.rules {
                rule.bound = rule
                    .when
                    .iter()
                    .map(|c| SpecCheck::bind(c, spec, &features))
                    .collect::<Result<_, _>>()
                    .map_err(|problem| RuleError::Invalid {
                        set: set.name.clone(),
                        problem: format!("rule {:?}: {problem} (spec `{}`)", rule.name, spec.name),
                    })?;
            }
        } else {
            for rule in &set.rules {
                for condition in &rule.when {
                    condition.check().map_err(|e| RuleError::Invalid {
                        set: set.name.clone(),
                        problem: format!("rule {:?}: {e}", rule.name),
                    })?;
                }
            }
        }
        Ok(set)
    }

    /// An empty rule set: only the model decides.
    pub fn empty() -> RuleSet {
        RuleSet {
            name: "none".into(),
            version: 0,
            rules: Vec::new(),
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("the set needs a name".into());
        }
        if self.rules.len() > MAX_RULES {
            return Err(format!("{} rules; at most {MAX_RULES}", self.rules.len()));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let valid_name = !rule.name.is_empty()
                && rule
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid_name {
                return Err(format!(
                    "rule {i}: name {:?} must be lowercase a-z, 0-9 and _",
                    rule.name
                ));
            }
            if self.rules[..i].iter().any(|r| r.name == rule.name) {
                return Err(format!("rule {i}: name {:?} is used twice", rule.name));
            }
            if rule.when.is_empty() {
                return Err(format!(
                    "rule {:?} has no conditions (it would fire on everything)",
                    rule.name
                ));
            }
        }
        Ok(())
    }

    /// The rules that fire for `input`, in set order.
    pub fn fired<'a>(&'a self, input: &RuleInput<'_>) -> Vec<&'a Rule> {
        self.rules
            .iter()
            .filter(|r| r.when.iter().all(|c| c.holds(input)))
            .collect()
    }

    /// The decision once `fired` rules are applied to the model's: the most severe of them all.
    pub fn decide(model: Decision, fired: &[&Rule]) -> Decision {
        fired.iter().map(|r| r.action).fold(model, Ord::max)
    }

    /// Applies the rules to the model's verdict on `tx`: the decision escalated by the rules that
    /// fire, their names in `rules`, and their reasons first among `reasons`.
    pub fn apply(&self, verdict: &mut Verdict, tx: &Transaction, state: &StateFeatures) {
        let input = RuleInput {
            tx,
            fraud_probability: verdict.fraud_probability,
            state,
        };
        escalate(verdict, &self.fired(&input));
    }

    /// The rules of a spec's rule set ([`RuleSet::from_json_for`]) that fire for `input`.
    pub fn fired_on_spec<'a>(&'a self, input: &SpecInput<'_>) -> Vec<&'a Rule> {
        self.rules
            .iter()
            .filter(|r| !r.bound.is_empty() && r.bound.iter().all(|c| c.holds(input)))
            .collect()
    }

    /// [`RuleSet::apply`] for a spec's transaction: its record and its features in spec order.
    pub fn apply_on_spec(&self, verdict: &mut Verdict, record: &Record, features: &[f64]) {
        let input = SpecInput {
            record,
            features,
            fraud_probability: verdict.fraud_probability,
        };
        escalate(verdict, &self.fired_on_spec(&input));
    }
}

/// The verdict escalated by `fired`: its decision, its rules, and their reasons first.
fn escalate(verdict: &mut Verdict, fired: &[&Rule]) {
    if fired.is_empty() {
        return;
    }
    verdict.decision = RuleSet::decide(verdict.decision, fired);
    verdict.rules = fired.iter().map(|r| r.name.clone()).collect();
    let reasons = fired
        .iter()
        .map(|r| format!("rule {}: {}", r.name, r.reason));
    verdict.reasons = reasons.chain(verdict.reasons.drain(..)).collect();
}

/// The fields a rule set for `spec` can name, as a Markdown table (name, kind, what):
/// `docs/rules.md` holds one per shipped spec, checked equal by a test.
pub fn field_table(spec: &Spec) -> String {
    let mut rows: Vec<[String; 3]> = Vec::new();
    if spec.is_paysim() {
        for (field, what) in PAYSIM_FIELDS {
            rows.push([
                field.name(),
                field.kind().describe().to_owned(),
                what.to_owned(),
            ]);
        }
    } else {
        rows.push([
            "fraud_probability".into(),
            Kind::Number.describe().into(),
            "the model's calibrated probability".into(),
        ]);
        for (name, what) in spec.feature_descriptions() {
            rows.push([name, "a number (feature)".into(), what]);
        }
        for field in spec.fields.iter().filter(|f| f.role != FieldRole::Label) {
            let kind = match field.kind {
                FieldType::Enum => format!("one of {}", field.values.join(", ")),
                FieldType::String => "text, compared with == or !=".into(),
                _ => Kind::Number.describe().into(),
            };
            rows.push([field.name.clone(), kind, field.doc.clone()]);
        }
    }
    let mut table = String::from("| field | kind | what |\n|---|---|---|\n");
    for [name, kind, what] in rows {
        table.push_str(&format!(
            "| `{name}` | {kind} | {} |\n",
            what.replace('|', "\\|")
        ));
    }
    table
}

/// Everything a spec's rule can look at for one transaction.
pub struct SpecInput<'a> {
    /// The record, its fields in spec order.
    pub record: &'a Record,
    /// Its features, in the spec's (the model's) order.
    pub features: &'a [f64],
    /// The model's calibrated probability.
    pub fraud_probability: f64,
}

/// A condition bound to a spec: what it reads, how, and the value typed for it.
#[derive(Clone, Debug, PartialEq)]
struct SpecCheck {
    subject: Subject,
    op: Op,
    expected: Expected,
}

/// What a spec's condition reads.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Subject {
    Probability,
    /// The feature at this index of the vector.
    Feature(usize),
    /// The record's field at this index.
    Field(usize),
}

/// The value a spec's condition compares with.
#[derive(Clone, Debug, PartialEq)]
enum Expected {
    Number(f64),
    /// An enum field's value, by index.
    Enum(usize),
    Text(String),
}

impl SpecCheck {
    /// `condition` read against `spec` (`features`: its feature names): a feature first, then a
    /// field, by name; the message says what to fix.
    fn bind(condition: &Condition, spec: &Spec, features: &[String]) -> Result<SpecCheck, String> {
        let name = condition.field.name();
        let text = match &condition.value {
            Value::Type(t) => Some(t.as_str().to_owned()),
            Value::Unknown(text) => Some(text.clone()),
            Value::Number(_) | Value::Bool(_) => None,
        };
        let number = match condition.value {
            Value::Number(n) if n.is_finite() => Some(n),
            _ => None,
        };
        let written = || serde_json::to_string(&condition.value).unwrap_or_default();
        let bound = |subject, expected| SpecCheck {
            subject,
            op: condition.op,
            expected,
        };
        let needs_number = |what: &str| {
            format!(
                "`{name} {} {}` does not fit: {what} is a number",
                condition.op,
                written()
            )
        };
        if name == "fraud_probability" {
            return number
                .map(|n| bound(Subject::Probability, Expected::Number(n)))
                .ok_or_else(|| needs_number("the model's probability"));
        }
        if let Some(i) = features.iter().position(|f| *f == name) {
            return number
                .map(|n| bound(Subject::Feature(i), Expected::Number(n)))
                .ok_or_else(|| needs_number(&format!("feature `{name}`")));
        }
        let Some(i) = spec.fields.iter().position(|f| f.name == name) else {
            return Err(format!(
                "unknown field `{name}`: not a feature or field of the spec, nor fraud_probability \
                 (docs/rules.md lists them)"
            ));
        };
        let field = &spec.fields[i];
        if field.role == FieldRole::Label {
            return Err(format!(
                "`{name}` is the label, unknown when a transaction is scored"
            ));
        }
        let equality = || {
            if condition.op.is_equality() {
                Ok(())
            } else {
                Err(format!(
                    "`{name} {} {}` does not fit: field `{name}` is compared with == or !=",
                    condition.op,
                    written()
                ))
            }
        };
        match field.kind {
            FieldType::Enum => {
                equality()?;
                let value = text.unwrap_or_default();
                let index = field
                    .values
                    .iter()
                    .position(|v| *v == value)
                    .ok_or_else(|| {
                        format!(
                            "`{name}` takes {}, not {}",
                            field.values.join(", "),
                            written()
                        )
                    })?;
                Ok(bound(Subject::Field(i), Expected::Enum(index)))
            }
            FieldType::String => {
                equality()?;
                let value =
                    text.ok_or_else(|| format!("`{name}` is text: compare it with a string"))?;
                Ok(bound(Subject::Field(i), Expected::Text(value)))
            }
            _ => number
                .map(|n| bound(Subject::Field(i), Expected::Number(n)))
                .ok_or_else(|| needs_number(&format!("field `{name}`"))),
        }
    }

    fn holds(&self, input: &SpecInput<'_>) -> bool {
        let value = |i: usize| input.record.values.get(i);
        match (self.subject, &self.expected) {
            (Subject::Probability, Expected::Number(b)) => {
                self.op.holds(input.fraud_probability, *b)
            }
            (Subject::Feature(i), Expected::Number(b)) => input
                .features
                .get(i)
                .is_some_and(|a| !a.is_nan() && self.op.holds(*a, *b)),
            (Subject::Field(i), Expected::Number(b)) => value(i)
                .map(RecordValue::number)
                .is_some_and(|a| !a.is_nan() && self.op.holds(a, *b)),
            (Subject::Field(i), Expected::Enum(b)) => {
                matches!(value(i), Some(RecordValue::Enum(a)) if self.op.holds(a, b))
            }
            (Subject::Field(i), Expected::Text(b)) => {
                matches!(value(i), Some(RecordValue::Text(a)) if self.op.holds(a, b))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::account_state::{AccountHistory, StateParams};

    const SEED: &str = include_str!("../../deploy/rules/default.json");

    fn tx(time_ms: i64, tx_type: TxType, amount: f64, balance: f64) -> Transaction {
        Transaction {
            tx_id: format!("t{time_ms}"),
            event_time: time_ms,
            step: 1,
            tx_type,
            amount,
            name_orig: "C1".into(),
            old_balance_orig: balance,
            new_balance_orig: balance - amount,
            name_dest: "C9".into(),
            old_balance_dest: 0.0,
            new_balance_dest: 0.0,
            is_fraud: None,
        }
    }

    /// The seed rule's names fired for a transfer of `share` of the balance, after a probe or not.
    fn fired_for(share: f64, probe: bool) -> Vec<String> {
        let rules = RuleSet::from_json(SEED.as_bytes()).unwrap();
        let params = StateParams::default();
        let mut history = AccountHistory::default();
        if probe {
            history.observe(&tx(0, TxType::Payment, 9.5, 181_000.0), 0, &params);
        }
        let transfer = tx(60_000, TxType::Transfer, 181_000.0 * share, 181_000.0);
        let state = history.observe(&transfer, 1, &params);
        let input = RuleInput {
            tx: &transfer,
            fraud_probability: 0.1,
            state: &state,
        };
        rules.fired(&input).iter().map(|r| r.name.clone()).collect()
    }

    #[test]
    fn the_seed_rule_blocks_a_drain_after_a_probe_and_only_then() {
        assert_eq!(fired_for(1.0, true), ["drain_after_probe"]);
        assert_eq!(
            fired_for(0.95, true),
            ["drain_after_probe"],
            "5 % left behind"
        );
        assert!(fired_for(0.95, false).is_empty(), "no probe, no sequence");
        assert!(fired_for(0.3, true).is_empty(), "not most of the balance");
        let rules = RuleSet::from_json(SEED.as_bytes()).unwrap();
        let fired: Vec<&Rule> = rules.rules.iter().collect();
        assert_eq!(RuleSet::decide(Decision::Allow, &fired), Decision::Block);
        assert_eq!(RuleSet::decide(Decision::Review, &[]), Decision::Review);
    }

    #[test]
    fn bad_rule_sets_are_refused_saying_what_to_fix() {
        let refused = |json: &str| RuleSet::from_json(json.as_bytes()).unwrap_err().to_string();
        let rule = |name: &str, cond: &str| {
            format!(
                r#"{{"name":"s","version":1,"rules":[{{"name":"{name}","action":"BLOCK","reason":"r","when":[{cond}]}}]}}"#
            )
        };
        let ok = r#"{"field":"amount","op":">","value":1}"#;
        assert!(RuleSet::from_json(rule("big", ok).as_bytes()).is_ok());
        assert!(refused("{").starts_with("not a rule set"));
        assert!(
            refused(&rule("big", r#"{"field":"colour","op":"==","value":1}"#))
                .contains("unknown field `colour`; PaySim's rules take type, amount")
        );
        assert!(refused(&rule(
            "big",
            r#"{"field":"type","op":">","value":"TRANSFER"}"#
        ))
        .contains("compared with == or !="));
        assert!(
            refused(&rule("big", r#"{"field":"type","op":"==","value":"WIRE"}"#))
                .contains("a transaction type")
        );
        assert!(
            refused(&rule("big", r#"{"field":"amount","op":"<","value":"x"}"#))
                .contains("the field is a number")
        );
        assert!(refused(&rule("Big One", ok)).contains("lowercase"));
        assert!(refused(&rule("big", "")).contains("no conditions"));
        let twice = r#"{"name":"s","version":1,"rules":[
            {"name":"a","action":"BLOCK","reason":"r","when":[{"field":"amount","op":">","value":1}]},
            {"name":"a","action":"REVIEW","reason":"r","when":[{"field":"amount","op":">","value":2}]}]}"#;
        assert!(refused(twice).contains("used twice"));
    }

    #[test]
    fn values_are_typed_when_the_set_is_read_and_written_back_as_json_has_them() {
        let set = RuleSet::from_json(SEED.as_bytes()).unwrap();
        let values: Vec<&Value> = set
            .rules
            .iter()
            .flat_map(|r| &r.when)
            .map(|c| &c.value)
            .collect();
        assert!(values
            .iter()
            .any(|v| matches!(v, Value::Type(TxType::Transfer))));
        assert!(!values.iter().any(|v| matches!(v, Value::Unknown(_))));
        let again = RuleSet::from_json(&serde_json::to_vec(&set).unwrap()).unwrap();
        assert_eq!(again, set);
    }

    #[test]
    fn an_absent_state_value_never_holds() {
        let set = RuleSet::from_json(
            br#"{"name":"s","version":1,"rules":[{"name":"quick","action":"REVIEW","reason":"r",
                "when":[{"field":"state.seconds_since_previous","op":"<","value":60}]}]}"#,
        )
        .unwrap();
        let first = tx(0, TxType::Payment, 1.0, 10.0);
        let state = AccountHistory::default().features(&first, 0, &StateParams::default());
        let input = RuleInput {
            tx: &first,
            fraud_probability: 0.0,
            state: &state,
        };
        assert!(set.fired(&input).is_empty());
    }
}
