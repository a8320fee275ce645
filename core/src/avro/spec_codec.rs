//! Avro encoding of any spec's transactions, with the schema generated from the spec
//! ([`Spec::avro_schema`]), framed as the typed codecs are. A message that is not a record of the
//! spec is a [`CodecError`] with its dead-letter reason, never a panic.

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;

use super::framing::Frame;
use super::{
    ensure_consumed, legacy_fingerprint, rabin_fingerprint, CodecError, EncodeError, Framing,
};
use crate::spec::record::{Record, Value};
use crate::spec::wire::{WireSlot, EVENT_TIME, TX_ID};
use crate::spec::{FieldRole, FieldType, Spec};

/// One spec's transaction as it travels: its id and its record.
#[derive(Clone, Debug, PartialEq)]
pub struct WireRecord {
    /// The transaction's id: its `id` field's value as text, or the added `tx_id`.
    pub tx_id: String,
    /// Its fields in the spec's order (a field not sent on Kafka holds its type's zero; a label
    /// field holds 1 or 0, and `label` says whether it is known).
    pub record: Record,
}

/// Encodes and decodes the transactions of one spec.
pub struct SpecCodec {
    spec: Spec,
    slots: Vec<WireSlot>,
    /// Each slot's Avro field name, in order.
    names: Vec<String>,
    /// The key, id and event-time fields, as indices into the spec's fields.
    key_field: Option<usize>,
    id_field: Option<usize>,
    time_field: Option<usize>,
    schema: &'static Schema,
    schema_json: String,
    fingerprint: [u8; 8],
    legacy_fingerprint: [u8; 8],
    reader: GenericDatumReader<'static>,
    writer: GenericDatumWriter<'static>,
}

impl SpecCodec {
    /// The codec of `spec`'s generated schema (a checked spec's schema always parses).
    ///
    /// The parsed schema is kept for the life of the process (a few kilobytes; a process makes
    /// one codec per spec it reads), so that the reader and writer built on it are built once.
    pub fn new(spec: &Spec) -> Result<SpecCodec, apache_avro::Error> {
        apache_avro::util::max_allocation_bytes(super::MAX_ALLOCATION_BYTES);
        let schema_json = spec.avro_schema();
        let schema: &'static Schema = Box::leak(Box::new(Schema::parse_str(&schema_json)?));
        let reader = GenericDatumReader::builder(schema)
            .human_readable(false)
            .build()?;
        let writer = GenericDatumWriter::builder(schema)
            .human_readable(false)
            .build()?;
        let slots = spec.wire_slots();
        let names = slots
            .iter()
            .map(|slot| match slot {
                WireSlot::TxId => TX_ID.to_owned(),
                WireSlot::EventTime => EVENT_TIME.to_owned(),
                WireSlot::Field(i) => spec.fields[*i].wire_name().to_owned(),
            })
            .collect();
        let index = |name: &str| spec.fields.iter().position(|f| f.name == name);
        Ok(SpecCodec {
            key_field: spec.key_field().and_then(|key| index(&key.name)),
            id_field: spec.fields.iter().position(|f| f.role == FieldRole::Id),
            time_field: index(&spec.time.field),
            fingerprint: rabin_fingerprint(schema),
            legacy_fingerprint: legacy_fingerprint(schema),
            spec: spec.clone(),
            slots,
            names,
            schema,
            schema_json,
            reader,
            writer,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The parsed schema.
    pub fn schema(&self) -> &'static Schema {
        self.schema
    }

    /// The schema's JSON, docs included: what to register in a Schema Registry.
    pub fn schema_json(&self) -> &str {
        &self.schema_json
    }

    /// The CRC-64-AVRO fingerprint single-object messages carry.
    pub fn fingerprint(&self) -> [u8; 8] {
        self.fingerprint
    }

    /// The Kafka key of `record`: its key field's value as text (empty when the spec has none).
    pub fn key(&self, record: &Record) -> String {
        self.key_field
            .map_or_else(String::new, |i| text(&self.spec, i, &record.values[i]))
    }

    /// The transaction's id: its `id` field's value as text, or `tx_id` when the spec has none.
    pub fn id(&self, tx_id: &str, record: &Record) -> String {
        match self.id_field {
            Some(i) => text(&self.spec, i, &record.values[i]),
            None => tx_id.to_owned(),
        }
    }

    /// Encodes `record` (with `tx_id` when the spec has no id field of its own) in a new buffer.
    pub fn encode(
        &self,
        tx_id: &str,
        record: &Record,
        framing: Framing,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut buf = Vec::with_capacity(128);
        self.encode_into(tx_id, record, framing, &mut buf)?;
        Ok(buf)
    }

    /// Appends the encoding of `record` to `buf`, so a caller can reuse one buffer. On error
    /// `buf` is left as it was.
    pub fn encode_into(
        &self,
        tx_id: &str,
        record: &Record,
        framing: Framing,
        buf: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let fields = self
            .slots
            .iter()
            .zip(&self.names)
            .map(|(slot, name)| {
                let value = match slot {
                    WireSlot::TxId => Avro::String(tx_id.to_owned()),
                    WireSlot::EventTime => Avro::TimestampMillis(record.event_time_ms),
                    WireSlot::Field(i) => self.avro_value(*i, record),
                };
                (name.clone(), value)
            })
            .collect();
        let start = buf.len();
        framing.write_header(self.fingerprint, buf);
        self.writer
            .write_value(buf, Avro::Record(fields))
            .map_err(|e| {
                buf.truncate(start);
                EncodeError(e)
            })?;
        Ok(())
    }

    fn avro_value(&self, i: usize, record: &Record) -> Avro {
        let field = &self.spec.fields[i];
        let value = &record.values[i];
        if field.role == FieldRole::Label {
            return match record.label {
                None => Avro::Union(0, Box::new(Avro::Null)),
                Some(fraud) => Avro::Union(1, Box::new(Avro::Boolean(fraud))),
            };
        }
        match (field.kind, value) {
            (FieldType::Timestamp, Value::Integer(ms)) => Avro::TimestampMillis(*ms),
            (FieldType::Integer, Value::Integer(n)) if self.is_step(i) => {
                Avro::Int(i32::try_from(*n).unwrap_or(i32::MAX))
            }
            (FieldType::Integer, Value::Integer(n)) => Avro::Long(*n),
            (FieldType::Float, Value::Float(x)) => Avro::Double(*x),
            (FieldType::String, Value::Text(t)) => Avro::String(t.clone()),
            (FieldType::Enum, Value::Enum(e)) => Avro::Enum(
                u32::try_from(*e).unwrap_or(u32::MAX),
                field.values.get(*e).cloned().unwrap_or_default(),
            ),
            // A value not of its field's type: encoding fails on the schema, naming it.
            (_, other) => Avro::String(format!("{other:?}")),
        }
    }

    fn is_step(&self, i: usize) -> bool {
        self.spec.time.format == crate::spec::TimeFormat::PaysimStep
            && self.spec.fields[i].name == self.spec.time.field
    }

    /// Decodes a message in either framing (a Confluent body is read as this spec's schema; a
    /// single-object message must carry its fingerprint).
    pub fn decode(&self, bytes: &[u8]) -> Result<WireRecord, CodecError> {
        let (_, mut body) = Frame::body_for(bytes, self.fingerprint, self.legacy_fingerprint)?;
        let value = self
            .reader
            .read_value(&mut body)
            .map_err(CodecError::Body)?;
        ensure_consumed(body)?;
        let Avro::Record(fields) = value else {
            return Err(CodecError::Invalid("not a record".into()));
        };
        self.record(fields)
    }

    /// A decoded Avro record (fields in schema order) as the spec's record.
    fn record(&self, fields: Vec<(String, Avro)>) -> Result<WireRecord, CodecError> {
        let mut values: Vec<Value> = self.spec.fields.iter().map(zero).collect();
        let (mut tx_id, mut event_time_ms, mut label) = (String::new(), None, None);
        for (slot, (name, value)) in self.slots.iter().zip(fields) {
            let bad = |problem: &str| CodecError::Invalid(format!("field {name}: {problem}"));
            match (slot, value) {
                (WireSlot::TxId, Avro::String(id)) => tx_id = id,
                (WireSlot::EventTime, Avro::TimestampMillis(ms) | Avro::Long(ms)) => {
                    event_time_ms = Some(ms)
                }
                (WireSlot::Field(i), value) => {
                    let field = &self.spec.fields[*i];
                    values[*i] = match (field.kind, value) {
                        (_, Avro::Union(_, inner)) if field.role == FieldRole::Label => {
                            label = match *inner {
                                Avro::Boolean(fraud) => Some(fraud),
                                _ => None,
                            };
                            Value::Integer(i64::from(label == Some(true)))
                        }
                        (FieldType::Timestamp, Avro::TimestampMillis(ms) | Avro::Long(ms)) => {
                            Value::Integer(ms)
                        }
                        (FieldType::Integer, Avro::Long(n)) => Value::Integer(n),
                        (FieldType::Integer, Avro::Int(n)) => Value::Integer(i64::from(n)),
                        (FieldType::Float, Avro::Double(x)) if x.is_finite() => Value::Float(x),
                        (FieldType::Float, Avro::Double(_)) => {
                            return Err(bad("not a finite number"))
                        }
                        (FieldType::String, Avro::String(t)) if !t.is_empty() => Value::Text(t),
                        (FieldType::String, Avro::String(_)) => return Err(bad("empty")),
                        (FieldType::Enum, Avro::Enum(e, _)) => Value::Enum(e as usize),
                        (_, other) => return Err(bad(&format!("unexpected {other:?}"))),
                    };
                }
                (_, other) => return Err(bad(&format!("unexpected {other:?}"))),
            }
        }
        let event_time_ms = match (event_time_ms, self.time_field.map(|i| &values[i])) {
            (Some(ms), _) => ms,
            (None, Some(Value::Integer(ms))) => *ms,
            _ => return Err(CodecError::Invalid("no event time".into())),
        };
        let record = Record {
            values,
            event_time_ms,
            label,
        };
        let tx_id = self.id(&tx_id, &record);
        Ok(WireRecord { tx_id, record })
    }
}

/// A field's value as text: a key or an id.
fn text(spec: &Spec, i: usize, value: &Value) -> String {
    match value {
        Value::Integer(n) => n.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Text(t) => t.clone(),
        Value::Enum(e) => spec.fields[i].values.get(*e).cloned().unwrap_or_default(),
    }
}

/// The value a field not sent on Kafka holds in a decoded record.
fn zero(field: &crate::spec::FieldSpec) -> Value {
    match field.kind {
        FieldType::Float => Value::Float(0.0),
        FieldType::String => Value::Text(String::new()),
        FieldType::Enum => Value::Enum(0),
        FieldType::Integer | FieldType::Timestamp => Value::Integer(0),
    }
}
