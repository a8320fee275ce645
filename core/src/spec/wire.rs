//! How a spec's transactions travel on Kafka: which field is the message key, and the Avro
//! schema of the value, generated from the spec ([`Spec::avro_schema`]) and checked into
//! `schemas/` for each shipped spec (a test keeps the files equal to what this generates).
//!
//! The record carries the spec's fields in the spec's order, under their wire names, except those
//! marked `on_wire = false`. Two fields are added where the spec has none of its own:
//! - `tx_id`, the producer's id for the transaction, when no field has role `id`;
//! - `event_time` (timestamp-millis), when event time is PaySim's hourly `step`, which then
//!   travels too, as an `int`.
//!
//! Types: `string` → string, `integer` → long, `float` → double, `enum` → an Avro enum of the
//! declared values, `timestamp` → long with logical type timestamp-millis (UTC; whatever the file
//! wrote), and the label → `["null", "boolean"]`, null when unknown (live traffic).
//!
//! PaySim's generated schema is `schemas/transaction.avsc`, the contract Aegis has always had.

use serde::{Deserialize, Serialize};

use super::{FieldRole, FieldSpec, FieldType, Spec, TimeFormat};

/// The `[wire]` table of a spec: every key optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireSpec {
    /// The field whose value keys each message (role `entity`), so that one entity's
    /// transactions stay in order on one partition. Default: the first entity field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The Avro record's name. Default: `Transaction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The Avro record's namespace. Default: `io.aegis.<spec name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The Avro record's doc. Default: the spec's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

/// One field of the Avro record, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireSlot {
    /// `tx_id`, added when the spec has no field with role `id`.
    TxId,
    /// `event_time`, added when event time is PaySim's `step`.
    EventTime,
    /// The spec's field with this index.
    Field(usize),
}

/// The added `tx_id` field's name.
pub const TX_ID: &str = "tx_id";
/// The added `event_time` field's name.
pub const EVENT_TIME: &str = "event_time";

impl FieldSpec {
    /// The field's name in the Avro record.
    pub fn wire_name(&self) -> &str {
        self.wire.as_deref().unwrap_or(&self.name)
    }
}

impl Spec {
    /// The field that keys each message: `[wire] key`, or else the first entity field.
    pub fn key_field(&self) -> Option<&FieldSpec> {
        match self.wire.as_ref().and_then(|w| w.key.as_deref()) {
            Some(name) => self.field(name),
            None => self.fields.iter().find(|f| f.role == FieldRole::Entity),
        }
    }

    /// The Avro record's fields, in order.
    pub fn wire_slots(&self) -> Vec<WireSlot> {
        let mut slots = Vec::with_capacity(self.fields.len() + 2);
        if self.id_field().is_none() {
            slots.push(WireSlot::TxId);
        }
        if self.time.format == TimeFormat::PaysimStep {
            slots.push(WireSlot::EventTime);
        }
        slots.extend(
            (0..self.fields.len())
                .filter(|&i| self.fields[i].on_wire)
                .map(WireSlot::Field),
        );
        slots
    }

    /// The Avro schema of this spec's transactions, as JSON (pretty, ending in a newline): what
    /// `schemas/` holds and a Schema Registry is given.
    pub fn avro_schema(&self) -> String {
        let wire = self.wire.clone().unwrap_or_default();
        let namespace = wire
            .namespace
            .unwrap_or_else(|| format!("io.aegis.{}", self.name));
        let doc = wire.doc.unwrap_or_else(|| self.description.clone());
        let fields = self
            .wire_slots()
            .into_iter()
            .map(|slot| self.avro_field(slot))
            .collect();
        let record = AvroRecord {
            kind: "record",
            name: wire.record.unwrap_or_else(|| "Transaction".into()),
            namespace,
            doc,
            fields,
        };
        let mut json = serde_json::to_string_pretty(&record).unwrap_or_default();
        json.push('\n');
        json
    }

    fn avro_field(&self, slot: WireSlot) -> AvroField {
        let field =
            match slot {
                WireSlot::TxId => {
                    return AvroField {
                        name: TX_ID.into(),
                        kind: AvroType::Name("string"),
                        default: None,
                        doc: "Unique id of the transaction, assigned by the producer.".into(),
                    }
                }
                WireSlot::EventTime => return AvroField {
                    name: EVENT_TIME.into(),
                    kind: timestamp_millis(),
                    default: None,
                    doc:
                        "When the transaction happened, in milliseconds since the Unix epoch (UTC)."
                            .into(),
                },
                WireSlot::Field(i) => &self.fields[i],
            };
        let is_label = field.role == FieldRole::Label;
        let kind = match field.kind {
            _ if is_label => AvroType::Union(vec!["null", "boolean"]),
            FieldType::String => AvroType::Name("string"),
            FieldType::Integer
                if self.time.format == TimeFormat::PaysimStep && field.name == self.time.field =>
            {
                AvroType::Name("int")
            }
            FieldType::Integer => AvroType::Name("long"),
            FieldType::Float => AvroType::Name("double"),
            FieldType::Timestamp => timestamp_millis(),
            FieldType::Enum => AvroType::Enum {
                kind: "enum",
                name: field
                    .enum_name
                    .clone()
                    .unwrap_or_else(|| camel_case(field.wire_name())),
                doc: format!("The values `{}` may take.", field.wire_name()),
                symbols: field.values.clone(),
            },
        };
        let doc = if field.doc.is_empty() {
            format!("`{}` as the data has it.", field.name)
        } else {
            field.doc.clone()
        };
        AvroField {
            name: field.wire_name().to_owned(),
            kind,
            default: is_label.then_some(serde_json::Value::Null),
            doc,
        }
    }
}

fn timestamp_millis() -> AvroType {
    AvroType::Logical {
        kind: "long",
        logical_type: "timestamp-millis",
    }
}

/// `name_orig` → `NameOrig`, `TX_TYPE` → `TxType`.
fn camel_case(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[derive(Serialize)]
struct AvroRecord {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    namespace: String,
    doc: String,
    fields: Vec<AvroField>,
}

#[derive(Serialize)]
struct AvroField {
    name: String,
    #[serde(rename = "type")]
    kind: AvroType,
    #[serde(skip_serializing_if = "Option::is_none")]
    default: Option<serde_json::Value>,
    doc: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum AvroType {
    Name(&'static str),
    Union(Vec<&'static str>),
    Logical {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(rename = "logicalType")]
        logical_type: &'static str,
    },
    Enum {
        #[serde(rename = "type")]
        kind: &'static str,
        name: String,
        doc: String,
        symbols: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_of_wire_names() {
        assert_eq!(camel_case("name_orig"), "NameOrig");
        assert_eq!(camel_case("TX_TYPE"), "TxType");
        assert_eq!(camel_case("type"), "Type");
    }
}
