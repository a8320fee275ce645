//! The embedded schema files: they parse, follow the contract and document every field.

use super::*;

/// The fields of an embedded schema file, checked to be documented.
fn documented_fields(avsc: &str) -> Vec<String> {
    let schema: serde_json::Value = serde_json::from_str(avsc).unwrap();
    assert_eq!(schema["namespace"], "io.aegis");
    assert_documented(&schema, "the record");
    let fields = schema["fields"].as_array().unwrap();
    for field in fields {
        let name = field["name"].as_str().unwrap();
        assert_documented(field, name);
        if field["type"]["type"] == "enum" {
            assert_documented(&field["type"], name);
        }
    }
    fields
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_documented(node: &serde_json::Value, what: &str) {
    let doc = node["doc"].as_str().unwrap_or_default();
    assert!(!doc.trim().is_empty(), "{what} has no doc");
}

#[test]
fn schema_files_parse_and_document_every_field_in_contract_order() {
    assert_eq!(
        documented_fields(AvroCodec::transaction().schema_json()),
        [
            "tx_id",
            "event_time",
            "step",
            "type",
            "amount",
            "name_orig",
            "old_balance_orig",
            "new_balance_orig",
            "name_dest",
            "old_balance_dest",
            "new_balance_dest",
            "is_fraud",
        ]
    );
    assert_eq!(
        documented_fields(AvroCodec::verdict().schema_json()),
        [
            "tx_id",
            "account",
            "amount",
            "type",
            "event_time",
            "fraud_probability",
            "decision",
            "reasons",
            "model_version",
            "scored_at",
            "rules",
            "features",
            "explanation",
        ]
    );
    assert_eq!(
        documented_fields(AvroCodec::label().schema_json()),
        ["tx_id", "is_fraud", "labelled_at", "source", "event_time"]
    );
    assert_eq!(
        documented_fields(AvroCodec::outcome().schema_json()),
        [
            "tx_id",
            "account",
            "decision",
            "fraud_probability",
            "amount",
            "type",
            "model_version",
            "event_time",
            "scored_at",
            "is_fraud",
            "labelled_at",
            "label_source",
            "verdict_to_label_ms",
            "joined_at",
            "rules_fired",
        ]
    );
    for avsc in [TRANSACTION_AVSC, VERDICT_AVSC, LABEL_AVSC, OUTCOME_AVSC] {
        Schema::parse_str(avsc).unwrap();
    }
}

#[test]
fn enum_symbols_match_the_rust_enums() {
    let symbols = |avsc: &str, field: &str| -> Vec<String> {
        let schema: serde_json::Value = serde_json::from_str(avsc).unwrap();
        let field = schema["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == field);
        serde_json::from_value(field.unwrap()["type"]["symbols"].clone()).unwrap()
    };
    let types: Vec<&str> = TxType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(symbols(TRANSACTION_AVSC, "type"), types);
    assert_eq!(symbols(VERDICT_AVSC, "type"), types);
    let decisions: Vec<&str> = Decision::ALL.iter().map(|d| d.as_str()).collect();
    assert_eq!(symbols(VERDICT_AVSC, "decision"), decisions);
    assert_eq!(symbols(OUTCOME_AVSC, "type"), types);
    assert_eq!(symbols(OUTCOME_AVSC, "decision"), decisions);
}

/// The verdict schema before the `rules` field: what readers and the Schema Registry already have.
const VERDICT_V1: &str = include_str!("verdict_v1.avsc");
/// The verdict schema before the `explanation` field (with `rules` and `features`).
const VERDICT_BEFORE_EXPLANATIONS: &str = include_str!("verdict_before_explanations.avsc");

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;

fn write(schema: &apache_avro::Schema, value: apache_avro::types::Value) -> Vec<u8> {
    GenericDatumWriter::builder(schema)
        .human_readable(false)
        .build()
        .unwrap()
        .write_value_to_vec(value)
        .unwrap()
}

#[test]
fn the_rules_features_and_explanation_fields_keep_the_verdict_schema_compatible_both_ways() {
    use apache_avro::schema_compatibility::SchemaCompatibility;
    let new = apache_avro::Schema::parse_str(AvroCodec::verdict().schema_json()).unwrap();
    let mut with_all = verdict(&["origin account emptied (+0.10)"]);
    with_all.rules = vec!["drain_after_probe".into()];
    with_all.features = vec![0.25, 3.0];
    with_all.explanation = Some(explanation());
    for old_json in [VERDICT_V1, VERDICT_BEFORE_EXPLANATIONS] {
        let old = apache_avro::Schema::parse_str(old_json).unwrap();
        // BACKWARD (the registry's default): the new schema reads what the old one wrote, the
        // added fields taking their defaults; FORWARD: existing readers read what the new one
        // writes.
        SchemaCompatibility::can_read(&old, &new).unwrap();
        SchemaCompatibility::can_read(&new, &old).unwrap();

        // And concretely: an old verdict read with the new schema has no rules, features or
        // explanation; a new one with all three is read by an old reader, which ignores what
        // it does not know.
        let plain = verdict(&["origin account emptied (+0.10)"]);
        let old_bytes = write(&old, any_record_of(&plain, &old));
        assert_eq!(read_as::<Verdict>(&old_bytes, &old, &new), plain);
        let new_bytes = write(&new, any_record_of(&with_all, &new));
        let read_by_old = read_as::<Verdict>(&new_bytes, &new, &old);
        assert_eq!(read_by_old.explanation, None);
        assert_eq!(read_by_old.reasons, with_all.reasons);
        let knows_rules = old_json == VERDICT_BEFORE_EXPLANATIONS;
        assert_eq!(read_by_old.rules.is_empty(), !knows_rules);
        assert_eq!(read_by_old.features.is_empty(), !knows_rules);
    }
    // The new schema reads its own explanation back whole.
    let new_bytes = write(&new, any_record_of(&with_all, &new));
    assert_eq!(read_as::<Verdict>(&new_bytes, &new, &new), with_all);
}

/// The label schema before `event_time`.
const LABEL_V1: &str = include_str!("label_v1.avsc");
/// The outcome schema before `rules_fired`.
const OUTCOME_BEFORE_RULES: &str = include_str!("outcome_before_rules.avsc");

/// `value` as a record of `schema`, without the fields `schema` lacks.
fn any_record_of<T: serde::Serialize>(
    value: &T,
    schema: &apache_avro::Schema,
) -> apache_avro::types::Value {
    let apache_avro::Schema::Record(record) = schema else {
        panic!("a record schema");
    };
    match apache_avro::to_value(value).unwrap() {
        apache_avro::types::Value::Record(fields) => apache_avro::types::Value::Record(
            fields
                .into_iter()
                .filter(|(name, _)| record.lookup.contains_key(name))
                .collect(),
        ),
        other => panic!("a record: {other:?}"),
    }
    .resolve(schema)
    .unwrap()
}

fn read_as<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    writer: &apache_avro::Schema,
    reader: &apache_avro::Schema,
) -> T {
    let value = GenericDatumReader::builder(writer)
        .reader_schema(reader)
        .human_readable(false)
        .build()
        .unwrap()
        .read_value(&mut &bytes[..])
        .unwrap();
    apache_avro::from_value::<T>(&value).unwrap()
}

#[test]
fn the_label_event_time_and_outcome_rules_fired_fields_keep_both_schemas_compatible_both_ways() {
    use apache_avro::schema_compatibility::SchemaCompatibility;
    let mut judged = verdict(&["amount"]);
    judged.rules = vec!["drain_after_probe".into()];
    let label = crate::Label {
        tx_id: judged.tx_id.clone(),
        is_fraud: true,
        labelled_at: 1_700_000_000_000,
        source: Some("chargeback".into()),
        event_time: Some(1_697_408_000_000),
    };
    let old = apache_avro::Schema::parse_str(LABEL_V1).unwrap();
    let new = apache_avro::Schema::parse_str(AvroCodec::label().schema_json()).unwrap();
    SchemaCompatibility::can_read(&old, &new).unwrap();
    SchemaCompatibility::can_read(&new, &old).unwrap();
    let old_bytes = write(&old, any_record_of(&label, &old));
    let read: crate::Label = read_as(&old_bytes, &old, &new);
    assert_eq!(read.event_time, None, "an old label has no event time");
    assert_eq!(read.tx_id, label.tx_id);
    let new_bytes = write(&new, any_record_of(&label, &new));
    let read: crate::Label = read_as(&new_bytes, &new, &old);
    assert_eq!((read.source, read.event_time), (label.source.clone(), None));
    assert_eq!(read_as::<crate::Label>(&new_bytes, &new, &new), label);

    let outcome = crate::Outcome::join(&judged, &label, 1_700_000_000_010);
    let old = apache_avro::Schema::parse_str(OUTCOME_BEFORE_RULES).unwrap();
    let new = apache_avro::Schema::parse_str(AvroCodec::outcome().schema_json()).unwrap();
    SchemaCompatibility::can_read(&old, &new).unwrap();
    SchemaCompatibility::can_read(&new, &old).unwrap();
    let old_bytes = write(&old, any_record_of(&outcome, &old));
    let read: crate::Outcome = read_as(&old_bytes, &old, &new);
    assert!(read.rules_fired.is_empty(), "an old outcome names no rule");
    let new_bytes = write(&new, any_record_of(&outcome, &new));
    assert_eq!(read_as::<crate::Outcome>(&new_bytes, &new, &new), outcome);
}
