//! Specs on Kafka: the Avro schema generated from each shipped spec is the file in `schemas/`,
//! PaySim's is today's transaction contract (compatible both ways), and a spec's records go
//! through the codec and back unchanged — PaySim's interchangeably with the typed codec.

use std::path::Path;

use aegis_core::avro::{AvroCodec, CodecError, Framing, SpecCodec};
use aegis_core::paysim::PaysimReader;
use aegis_core::spec::record::{Record, RecordReader, Value};
use aegis_core::spec::Spec;
use aegis_core::DeadLetterReason;
use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;

fn repository(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn spec(name: &str) -> Spec {
    Spec::load(&repository(&format!("specs/{name}.toml"))).unwrap()
}

const CARDS_SAMPLE: &str = "data/cards_every_10th_card_2018-04-01_2018-05-31.csv";

#[test]
fn each_shipped_spec_s_schema_is_the_file_in_schemas() {
    for (spec_name, file) in [("paysim", "transaction.avsc"), ("cards", "cards.avsc")] {
        let generated = spec(spec_name).avro_schema();
        let shipped = std::fs::read_to_string(repository(&format!("schemas/{file}"))).unwrap();
        assert!(
            generated == shipped,
            "schemas/{file} is not what specs/{spec_name}.toml generates; run \
             `cargo run -p aegis-trainer -- schema --spec specs/{spec_name}.toml > schemas/{file}`"
        );
        Schema::parse_str(&generated).unwrap();
    }
}

#[test]
fn paysim_s_generated_schema_is_today_s_transaction_contract() {
    // The file as it was written by hand before schemas were generated.
    let before =
        Schema::parse_str(include_str!("../../src/avro/tests/transaction_v1.avsc")).unwrap();
    let generated = Schema::parse_str(&Spec::paysim().avro_schema()).unwrap();
    // The Schema Registry's check both ways (BACKWARD and FORWARD), and the same canonical form:
    // the same fingerprint, so single-object messages of either are the other's.
    SchemaCompatibility::can_read(&before, &generated).unwrap();
    SchemaCompatibility::can_read(&generated, &before).unwrap();
    assert_eq!(generated.canonical_form(), before.canonical_form());
    let codec = SpecCodec::new(Spec::paysim()).unwrap();
    assert_eq!(codec.fingerprint(), AvroCodec::transaction().fingerprint());
}

#[test]
fn card_records_go_through_the_codec_and_back_unchanged() {
    let spec = spec("cards");
    let codec = SpecCodec::new(&spec).unwrap();
    let mut n = 0;
    for record in RecordReader::open(&spec, &repository(CARDS_SAMPLE))
        .unwrap()
        .take(5_000)
    {
        let record = record.unwrap();
        for framing in [Framing::SingleObject, Framing::Confluent { schema_id: 7 }] {
            let bytes = codec.encode("ignored", &record, framing).unwrap();
            let decoded = codec.decode(&bytes).unwrap();
            assert_eq!(decoded.record, record);
            // The id is the spec's own id field; the key is the card.
            assert_eq!(decoded.tx_id, integer(&record.values[0]).to_string());
            assert_eq!(codec.key(&record), integer(&record.values[2]).to_string());
        }
        n += 1;
    }
    assert_eq!(n, 5_000);
}

fn integer(value: &Value) -> i64 {
    match value {
        Value::Integer(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

#[test]
fn paysim_records_and_transactions_are_one_wire_format() {
    let spec = Spec::paysim();
    let codec = SpecCodec::new(spec).unwrap();
    let path = repository("data/paysim_mixed_steps_1-119.csv");
    let records = RecordReader::open(spec, &path).unwrap();
    let rows = PaysimReader::open(&path).unwrap();
    let flagged = spec
        .fields
        .iter()
        .position(|f| f.name == "isFlaggedFraud")
        .unwrap();
    for (record, row) in records.zip(rows).take(5_000) {
        let (mut record, tx) = (record.unwrap(), row.unwrap().transaction);
        // Not sent on Kafka: a decoded record holds 0.
        record.values[flagged] = Value::Integer(0);
        // A transaction written by the typed codec is the spec's record...
        let bytes = AvroCodec::transaction()
            .encode(&tx, Framing::SingleObject)
            .unwrap();
        let decoded = codec.decode(&bytes).unwrap();
        assert_eq!(decoded.record, record);
        assert_eq!(decoded.tx_id, tx.tx_id);
        // ...and the spec's record, with its id, is the transaction.
        let bytes = codec
            .encode(&tx.tx_id, &record, Framing::SingleObject)
            .unwrap();
        let (back, _) = AvroCodec::transaction().decode(&bytes).unwrap();
        assert_eq!(back, tx);
        assert_eq!(codec.decode(&bytes).unwrap().tx_id, tx.tx_id);
        assert_eq!(codec.key(&record), tx.name_orig);
    }
}

#[test]
fn what_is_not_a_record_of_the_spec_is_refused_with_its_dead_letter_reason() {
    let cards = spec("cards");
    let codec = SpecCodec::new(&cards).unwrap();
    let record = RecordReader::open(&cards, &repository(CARDS_SAMPLE))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let bytes = codec.encode("", &record, Framing::SingleObject).unwrap();
    let reason = |bytes: &[u8]| codec.decode(bytes).map(|_| ()).unwrap_err().reason();

    // A PaySim transaction: another schema's fingerprint.
    let paysim = AvroCodec::transaction()
        .encode(
            &aegis_core::Transaction::takeover_example(),
            Framing::SingleObject,
        )
        .unwrap();
    assert_eq!(reason(&paysim), DeadLetterReason::UnknownFingerprint);
    assert_eq!(reason(&bytes[..bytes.len() - 3]), DeadLetterReason::Body);
    assert_eq!(
        reason(&[bytes.as_slice(), &[0]].concat()),
        DeadLetterReason::TrailingBytes
    );
    assert_eq!(reason(&[]), DeadLetterReason::Empty);

    // A NaN amount decodes as Avro, but is not a valid transaction.
    let mut nan = record.clone();
    nan.values[4] = Value::Float(f64::NAN);
    let bytes = codec.encode("", &nan, Framing::SingleObject).unwrap();
    let err = codec.decode(&bytes).unwrap_err();
    assert!(matches!(err, CodecError::Invalid(_)), "{err}");
    assert_eq!(err.reason(), DeadLetterReason::Invalid);
    assert!(err.to_string().contains("TX_AMOUNT"), "{err}");
}

#[test]
fn an_unknown_label_travels_as_null() {
    let cards = spec("cards");
    let codec = SpecCodec::new(&cards).unwrap();
    let record = Record {
        label: None,
        ..RecordReader::open(&cards, &repository(CARDS_SAMPLE))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
    };
    let mut expected = record.clone();
    expected.values[5] = Value::Integer(0);
    let decoded = codec
        .decode(&codec.encode("", &record, Framing::SingleObject).unwrap())
        .unwrap();
    assert_eq!(decoded.record, expected);
    assert_eq!(decoded.record.label, None);
}

#[test]
fn a_spec_whose_wire_cannot_work_is_refused_naming_the_field() {
    let cards = std::fs::read_to_string(repository("specs/cards.toml")).unwrap();
    let refused = |from: &str, to: &str, expected: &str| {
        assert!(cards.contains(from), "{from}");
        let text = cards.replacen(from, to, 1);
        let err = Spec::from_toml("specs/cards.toml", &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{err} (expected {expected:?})");
        assert_eq!(err.lines().count(), 1, "{err}");
    };
    refused(
        "name = \"TERMINAL_ID\"\ntype = \"integer\"\nrole = \"entity\"",
        "name = \"TERMINAL_ID\"\ntype = \"integer\"\nrole = \"entity\"\non_wire = false",
        "`TERMINAL_ID` is not sent on Kafka",
    );
    refused(
        "name = \"TX_AMOUNT\"\ntype = \"float\"\nrole = \"amount\"",
        "name = \"TX_AMOUNT\"\ntype = \"float\"\nrole = \"amount\"\nwire = \"CUSTOMER_ID\"",
        "names two fields on the wire",
    );
    refused(
        "name = \"TX_AMOUNT\"\ntype = \"float\"\nrole = \"amount\"",
        "name = \"TX_AMOUNT\"\ntype = \"float\"\nrole = \"amount\"\nwire = \"tx-amount\"",
        "is not an Avro name",
    );
    refused("key = \"CUSTOMER_ID\"", "key = \"TX_AMOUNT\"", "wire.key");
}

#[test]
fn docs_and_wire_names_do_not_change_a_spec_s_hash() {
    let cards = std::fs::read_to_string(repository("specs/cards.toml")).unwrap();
    let bare: String = cards
        .lines()
        .filter(|l| !l.starts_with("doc = ") && !l.starts_with("wire = "))
        .collect::<Vec<_>>()
        .join("\n");
    let bare = Spec::from_toml("bare", &bare).unwrap();
    assert_eq!(bare.hash(), spec("cards").hash());
}

#[test]
fn paysim_s_hash_is_the_one_its_models_carry() {
    // The hash of specs/paysim.toml before it gained docs and wire names: PaySim models written
    // since specs carry it, and must still be PaySim's.
    assert_eq!(
        Spec::paysim().hash(),
        "b6d08e6c49ed60c44899755607eae15bf2c919d856215d783797fae163e5a3e7"
    );
}

/// Hex of a fingerprint as fastavro prints it.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn fingerprints_are_the_avro_specification_s_as_another_implementation_computes_them() {
    // Python's fastavro 1.12 on each schema file:
    //   fingerprint(to_parsing_canonical_form(json.load(open(f))), "CRC-64-AVRO")
    // (an implementation apart from apache-avro; Java's SchemaNormalization agrees with it).
    let expected = [
        ("transaction", "d37ab256c86e99f1"),
        ("verdict", "bec6a14b11c90838"),
        ("repartitioned", "56973ec6963f79da"),
        ("label", "d4e20c009582caea"),
        ("outcome", "12df624d3634286a"),
        ("cards", "9ca61ae6b43dcc45"),
    ];
    let ours = |name: &str| match name {
        "transaction" => AvroCodec::transaction().fingerprint(),
        "verdict" => AvroCodec::verdict().fingerprint(),
        "label" => AvroCodec::label().fingerprint(),
        "outcome" => AvroCodec::outcome().fingerprint(),
        "repartitioned" => AvroCodec::repartitioned().fingerprint(),
        _ => SpecCodec::new(&spec("cards")).unwrap().fingerprint(),
    };
    for (name, fastavro) in expected {
        // Both as the single-object header carries it: little-endian bytes.
        assert_eq!(hex(&ours(name)), fastavro, "{name}");
    }
    let schema = Schema::parse_str(AvroCodec::transaction().schema_json()).unwrap();
    assert!(aegis_core::avro::canonical_form(&schema)
        .contains(r#"{"name":"event_time","type":"long"}"#));
}

#[test]
fn messages_written_with_the_old_fingerprint_are_still_read_and_counted() {
    let tx = aegis_core::Transaction::takeover_example();
    let mut bytes = AvroCodec::transaction()
        .encode(&tx, Framing::SingleObject)
        .unwrap();
    // apache-avro's own fingerprint of the same schema: what Aegis wrote before.
    let schema = Schema::parse_str(AvroCodec::transaction().schema_json()).unwrap();
    let old = schema.fingerprint::<apache_avro::rabin::Rabin>().bytes;
    assert_ne!(&bytes[2..10], &old[..], "the fingerprint changed");
    bytes[2..10].copy_from_slice(&old);
    let before = aegis_core::avro::legacy_fingerprint_reads();
    let (back, _) = AvroCodec::transaction().decode(&bytes).unwrap();
    assert_eq!(back, tx);
    assert!(aegis_core::avro::legacy_fingerprint_reads() > before);
}
