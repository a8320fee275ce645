//! Avro encoding of [`Transaction`], [`Verdict`], [`Label`] and [`Outcome`] with the schemas in `schemas/`, framed as Avro
//! single-object encoding or the Confluent wire format. Foreign, truncated or corrupt bytes are a
//! [`CodecError`], never a panic, and no decode allocates more than [`MAX_ALLOCATION_BYTES`] at once.

mod error;
mod framing;
mod spec_codec;
#[cfg(test)]
mod tests;

use std::marker::PhantomData;
use std::sync::LazyLock;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::label::Label;
use crate::outcome::Outcome;
use crate::repartition::Repartitioned;
use crate::transaction::Transaction;
use crate::verdict::Verdict;

pub use error::{CodecError, EncodeError};
use framing::Frame;
pub use framing::Framing;
pub use spec_codec::{SpecCodec, WireRecord};

/// The largest single allocation apache-avro may make while decoding (a string, bytes or array
/// length read from the data), so that a corrupt length prefix cannot ask for gigabytes.
///
/// apache-avro keeps this limit process-wide and the first setting wins: it is set when the first
/// codec is created. Aegis messages are a few hundred bytes; Kafka's default limit is 1 MiB.
pub const MAX_ALLOCATION_BYTES: usize = 8 * 1024 * 1024;

const TRANSACTION_AVSC: &str = include_str!("../../../schemas/transaction.avsc");
const VERDICT_AVSC: &str = include_str!("../../../schemas/verdict.avsc");
const LABEL_AVSC: &str = include_str!("../../../schemas/label.avsc");
const OUTCOME_AVSC: &str = include_str!("../../../schemas/outcome.avsc");
const REPARTITIONED_AVSC: &str = include_str!("../../../schemas/repartitioned.avsc");

static TRANSACTION_SCHEMA: LazyLock<Schema> = LazyLock::new(|| parse_embedded(TRANSACTION_AVSC));
static VERDICT_SCHEMA: LazyLock<Schema> = LazyLock::new(|| parse_embedded(VERDICT_AVSC));
static LABEL_SCHEMA: LazyLock<Schema> = LazyLock::new(|| parse_embedded(LABEL_AVSC));
static OUTCOME_SCHEMA: LazyLock<Schema> = LazyLock::new(|| parse_embedded(OUTCOME_AVSC));
static REPARTITIONED_SCHEMA: LazyLock<Schema> =
    LazyLock::new(|| parse_embedded(REPARTITIONED_AVSC));
static TRANSACTION_CODEC: LazyLock<AvroCodec<Transaction>> =
    LazyLock::new(|| AvroCodec::new(&TRANSACTION_SCHEMA, TRANSACTION_AVSC));
static VERDICT_CODEC: LazyLock<AvroCodec<Verdict>> =
    LazyLock::new(|| AvroCodec::new(&VERDICT_SCHEMA, VERDICT_AVSC));
static LABEL_CODEC: LazyLock<AvroCodec<Label>> =
    LazyLock::new(|| AvroCodec::new(&LABEL_SCHEMA, LABEL_AVSC));
static OUTCOME_CODEC: LazyLock<AvroCodec<Outcome>> =
    LazyLock::new(|| AvroCodec::new(&OUTCOME_SCHEMA, OUTCOME_AVSC));
static REPARTITIONED_CODEC: LazyLock<AvroCodec<Repartitioned>> =
    LazyLock::new(|| AvroCodec::new(&REPARTITIONED_SCHEMA, REPARTITIONED_AVSC));

fn parse_embedded(avsc: &'static str) -> Schema {
    Schema::parse_str(avsc).expect("the embedded schemas parse (checked by the avro tests)")
}

/// Encodes and decodes one record type with its embedded schema. Get one with
/// [`AvroCodec::transaction`], [`AvroCodec::verdict`], [`AvroCodec::label`] or
/// [`AvroCodec::outcome`]; each is built once per process and
/// shared, so holding the `&'static` reference costs nothing.
pub struct AvroCodec<T> {
    schema: &'static Schema,
    schema_json: &'static str,
    fingerprint: [u8; 8],
    legacy_fingerprint: [u8; 8],
    reader: GenericDatumReader<'static>,
    writer: GenericDatumWriter<'static>,
    record: PhantomData<fn(T) -> T>,
}

impl AvroCodec<Transaction> {
    /// The codec of `schemas/transaction.avsc` (topic `transactions`).
    pub fn transaction() -> &'static Self {
        &TRANSACTION_CODEC
    }
}

impl AvroCodec<Verdict> {
    /// The codec of `schemas/verdict.avsc` (topic `verdicts`).
    pub fn verdict() -> &'static Self {
        &VERDICT_CODEC
    }
}

impl AvroCodec<Label> {
    /// The codec of `schemas/label.avsc` (topic `labels`).
    pub fn label() -> &'static Self {
        &LABEL_CODEC
    }
}

impl AvroCodec<Outcome> {
    /// The codec of `schemas/outcome.avsc` (topic `outcomes`).
    pub fn outcome() -> &'static Self {
        &OUTCOME_CODEC
    }
}

impl AvroCodec<Repartitioned> {
    /// The codec of `schemas/repartitioned.avsc` (the scorer's repartition topics).
    pub fn repartitioned() -> &'static Self {
        &REPARTITIONED_CODEC
    }
}

impl<T> AvroCodec<T> {
    fn new(schema: &'static Schema, schema_json: &'static str) -> Self {
        apache_avro::util::max_allocation_bytes(MAX_ALLOCATION_BYTES);
        let reader = GenericDatumReader::builder(schema)
            .human_readable(false)
            .build()
            .expect("the embedded schemas resolve (checked by the avro tests)");
        let writer = GenericDatumWriter::builder(schema)
            .human_readable(false)
            .build()
            .expect("the embedded schemas resolve (checked by the avro tests)");
        AvroCodec {
            schema,
            schema_json,
            fingerprint: rabin_fingerprint(schema),
            legacy_fingerprint: legacy_fingerprint(schema),
            reader,
            writer,
            record: PhantomData,
        }
    }

    /// The parsed schema.
    pub fn schema(&self) -> &'static Schema {
        self.schema
    }

    /// The schema file's text as shipped, docs included: what to register in a Schema Registry.
    pub fn schema_json(&self) -> &'static str {
        self.schema_json
    }

    /// The CRC-64-AVRO (Rabin) fingerprint of the schema's Parsing Canonical Form, little-endian,
    /// as it appears after `0xC3 0x01` in single-object encoding.
    pub fn fingerprint(&self) -> [u8; 8] {
        self.fingerprint
    }
}

impl<T: Serialize + DeserializeOwned> AvroCodec<T> {
    /// Encodes `value` in a new buffer with the given framing.
    pub fn encode(&self, value: &T, framing: Framing) -> Result<Vec<u8>, EncodeError> {
        let mut buf = Vec::with_capacity(256);
        self.encode_into(value, framing, &mut buf)?;
        Ok(buf)
    }

    /// Appends the encoding of `value` to `buf`, so a caller can reuse one buffer. On error `buf`
    /// is left as it was.
    pub fn encode_into(
        &self,
        value: &T,
        framing: Framing,
        buf: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let start = buf.len();
        framing.write_header(self.fingerprint, buf);
        self.writer.write_ser(buf, value).map_err(|e| {
            buf.truncate(start);
            EncodeError(e)
        })?;
        Ok(())
    }

    /// Decodes a message in either framing, reading the body with this codec's schema.
    ///
    /// A single-object message must carry this schema's fingerprint. A Confluent message's schema
    /// id is returned but not looked up: the body is assumed to be written with this schema. Use
    /// [`decode_with_writer`](Self::decode_with_writer) with the registry's schema for that id.
    pub fn decode(&self, bytes: &[u8]) -> Result<(T, Framing), CodecError> {
        let (framing, mut body) =
            Frame::body_for(bytes, self.fingerprint, self.legacy_fingerprint)?;
        let value = self
            .reader
            .read_deser::<T>(&mut body)
            .map_err(CodecError::Body)?;
        ensure_consumed(body)?;
        Ok((value, framing))
    }

    /// Decodes a message whose body was written with `writer` (for instance the schema a Schema
    /// Registry returns for the id in [`Framing::detect`]), resolving it to this codec's schema by
    /// Avro's rules: added fields take their defaults, removed fields are skipped.
    ///
    /// This is where a registry lookup plugs in. It is slower than [`decode`](Self::decode) (it
    /// resolves both schemas and goes through an Avro `Value`); callers should keep using `decode`
    /// when the id is the one this codec registered. A single-object message must carry the
    /// fingerprint of `writer`.
    pub fn decode_with_writer(
        &self,
        bytes: &[u8],
        writer: &Schema,
    ) -> Result<(T, Framing), CodecError> {
        let (framing, mut body) =
            Frame::body_for(bytes, rabin_fingerprint(writer), legacy_fingerprint(writer))?;
        let reader = GenericDatumReader::builder(writer)
            .reader_schema(self.schema)
            .human_readable(false)
            .build()
            .map_err(CodecError::Body)?;
        let value = reader.read_value(&mut body).map_err(CodecError::Body)?;
        ensure_consumed(body)?;
        let record = apache_avro::from_value::<T>(&value).map_err(CodecError::Body)?;
        Ok((record, framing))
    }
}

fn ensure_consumed(rest: &[u8]) -> Result<(), CodecError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(CodecError::TrailingBytes { count: rest.len() })
    }
}

/// The schema's Parsing Canonical Form as the Avro specification defines it. apache-avro 0.22
/// keeps `{"type":"long"}` where a logical type was (AVRO-4004); the specification strips the
/// logical type and, by its [PRIMITIVES] rule, writes a primitive as its bare name: `"long"` — as
/// Java's `SchemaNormalization` and Python's fastavro do.
pub fn canonical_form(schema: &Schema) -> String {
    let mut form = schema.canonical_form();
    for primitive in [
        "null", "boolean", "int", "long", "float", "double", "bytes", "string",
    ] {
        form = form.replace(
            &format!(r#"{{"type":"{primitive}"}}"#),
            &format!(r#""{primitive}""#),
        );
    }
    form
}

/// The CRC-64-AVRO (Rabin) fingerprint of the schema's [`canonical_form`], little-endian: what
/// single-object messages carry.
fn rabin_fingerprint(schema: &Schema) -> [u8; 8] {
    use digest::Digest;
    let digest = apache_avro::rabin::Rabin::digest(canonical_form(schema).as_bytes());
    let mut fingerprint = [0; 8];
    fingerprint.copy_from_slice(&digest);
    fingerprint
}

/// The fingerprint Aegis wrote before it followed the specification (apache-avro's own canonical
/// form, AVRO-4004): still accepted, so messages already written are read, and counted.
fn legacy_fingerprint(schema: &Schema) -> [u8; 8] {
    let digest = schema.fingerprint::<apache_avro::rabin::Rabin>().bytes;
    let mut fingerprint = [0; 8];
    fingerprint.copy_from_slice(&digest);
    fingerprint
}

/// Single-object messages read with a [`legacy_fingerprint`], over every codec of this process.
static LEGACY_READS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many single-object messages this process has read with the fingerprint Aegis wrote before
/// it followed the Avro specification (accepted; a metric tells when none arrive any more).
pub fn legacy_fingerprint_reads() -> u64 {
    LEGACY_READS.load(std::sync::atomic::Ordering::Relaxed)
}
