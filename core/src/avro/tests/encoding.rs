//! Round trips, the bytes on the wire, and resolving a registry writer schema.

use apache_avro::types::Value;

use super::*;

#[test]
fn transactions_round_trip_in_both_framings() {
    let codec = AvroCodec::transaction();
    for is_fraud in [Some(true), Some(false), None] {
        for framing in FRAMINGS {
            let tx = transaction(is_fraud);
            let bytes = codec.encode(&tx, framing).unwrap();
            assert_eq!(codec.decode(&bytes).unwrap(), (tx.clone(), framing));
            assert_eq!(Framing::detect(&bytes).unwrap(), framing);
        }
    }
}

#[test]
fn labels_and_outcomes_round_trip_in_both_framings() {
    for (source, event_time) in [
        (Some("chargeback".to_owned()), Some(1_697_408_000_000)),
        (None, None),
    ] {
        let label = crate::Label {
            tx_id: "t-42".into(),
            is_fraud: true,
            labelled_at: 1_700_000_200_000,
            source,
            event_time,
        };
        let mut judged = verdict(&["amount"]);
        judged.rules = vec!["drain_after_probe".into(), "new_payee_probe".into()];
        let outcome = crate::Outcome::join(&judged, &label, 1_700_000_200_010);
        for framing in FRAMINGS {
            let bytes = AvroCodec::label().encode(&label, framing).unwrap();
            assert_eq!(
                AvroCodec::label().decode(&bytes).unwrap(),
                (label.clone(), framing)
            );
            let bytes = AvroCodec::outcome().encode(&outcome, framing).unwrap();
            assert_eq!(
                AvroCodec::outcome().decode(&bytes).unwrap(),
                (outcome.clone(), framing)
            );
        }
    }
    assert!(
        AvroCodec::label()
            .decode(
                &AvroCodec::verdict()
                    .encode(&verdict(&[]), Framing::SingleObject)
                    .unwrap()
            )
            .is_err(),
        "a verdict is not a label"
    );
}

#[test]
fn every_transaction_type_round_trips() {
    let codec = AvroCodec::transaction();
    for tx_type in TxType::ALL {
        let tx = Transaction {
            tx_type,
            ..transaction(None)
        };
        let bytes = codec.encode(&tx, Framing::SingleObject).unwrap();
        assert_eq!(codec.decode(&bytes).unwrap().0, tx);
    }
}

#[test]
fn verdicts_round_trip_in_both_framings() {
    let codec = AvroCodec::verdict();
    let reason_lists: [&[&str]; 3] = [
        &["error_balance_orig", "amount", "type_TRANSFER"],
        &["amount"],
        &[],
    ];
    for reasons in reason_lists {
        for framing in FRAMINGS {
            for decision in Decision::ALL {
                let explanation = (decision != Decision::Allow).then(explanation);
                let v = Verdict {
                    decision,
                    explanation,
                    ..verdict(reasons)
                };
                let bytes = codec.encode(&v, framing).unwrap();
                assert_eq!(codec.decode(&bytes).unwrap(), (v, framing));
            }
        }
    }
}

#[test]
fn encode_into_appends_and_reuses_the_buffer() {
    let codec = AvroCodec::transaction();
    let tx = transaction(None);
    let alone = codec.encode(&tx, Framing::SingleObject).unwrap();
    let mut buf = b"prefix".to_vec();
    codec
        .encode_into(&tx, Framing::SingleObject, &mut buf)
        .unwrap();
    assert_eq!(&buf[..6], b"prefix");
    assert_eq!(&buf[6..], &alone[..]);
    buf.clear();
    codec
        .encode_into(&tx, Framing::SingleObject, &mut buf)
        .unwrap();
    assert_eq!(buf, alone);
}

#[test]
fn headers_follow_the_specs() {
    let codec = AvroCodec::transaction();
    let tx = transaction(None);
    let single = codec.encode(&tx, Framing::SingleObject).unwrap();
    assert_eq!(single[..2], [0xC3, 0x01]);
    assert_eq!(single[2..10], codec.fingerprint());
    let confluent = codec
        .encode(
            &tx,
            Framing::Confluent {
                schema_id: 0x0102_0304,
            },
        )
        .unwrap();
    assert_eq!(confluent[..5], [0x00, 0x01, 0x02, 0x03, 0x04]);
    assert_eq!(single[10..], confluent[5..], "same body in both framings");
}

#[test]
fn bodies_match_the_avro_binary_encoding_byte_for_byte() {
    let tx = transaction(Some(false));
    let mut expected = Vec::new();
    let string = |out: &mut Vec<u8>, s: &str| {
        out.extend(zigzag_varint(s.len() as i64));
        out.extend_from_slice(s.as_bytes());
    };
    string(&mut expected, &tx.tx_id);
    expected.extend(zigzag_varint(tx.event_time));
    expected.extend(zigzag_varint(i64::from(tx.step)));
    expected.extend(zigzag_varint(4)); // TRANSFER is symbol 4
    expected.extend_from_slice(&tx.amount.to_le_bytes());
    string(&mut expected, &tx.name_orig);
    expected.extend_from_slice(&tx.old_balance_orig.to_le_bytes());
    expected.extend_from_slice(&tx.new_balance_orig.to_le_bytes());
    string(&mut expected, &tx.name_dest);
    expected.extend_from_slice(&tx.old_balance_dest.to_le_bytes());
    expected.extend_from_slice(&tx.new_balance_dest.to_le_bytes());
    expected.extend_from_slice(&[2, 0]); // union branch 1 (boolean), false
    let bytes = AvroCodec::transaction()
        .encode(&tx, Framing::Confluent { schema_id: 1 })
        .unwrap();
    assert_eq!(bytes[5..], expected);
}

/// CRC-64-AVRO as written out in the Avro specification ("Schema Fingerprints").
fn spec_fingerprint64(bytes: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    let table: Vec<u64> = (0..256u64)
        .map(|i| (0..8).fold(i, |fp, _| (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg())))
        .collect();
    bytes.iter().fold(EMPTY, |fp, &b| {
        (fp >> 8) ^ table[((fp ^ u64::from(b)) & 0xff) as usize]
    })
}

#[test]
fn fingerprints_are_crc64_avro_of_the_canonical_form_little_endian() {
    for (schema, fingerprint) in [
        (
            AvroCodec::transaction().schema(),
            AvroCodec::transaction().fingerprint(),
        ),
        (
            AvroCodec::verdict().schema(),
            AvroCodec::verdict().fingerprint(),
        ),
    ] {
        let canonical = crate::avro::canonical_form(schema);
        assert!(
            !canonical.contains("doc") && !canonical.contains("logicalType"),
            "{canonical}"
        );
        assert_eq!(
            fingerprint,
            spec_fingerprint64(canonical.as_bytes()).to_le_bytes()
        );
    }
    assert_ne!(
        AvroCodec::transaction().fingerprint(),
        AvroCodec::verdict().fingerprint()
    );
}

#[test]
fn a_registry_writer_schema_is_resolved_to_ours() {
    let codec = AvroCodec::transaction();
    let tx = transaction(Some(true));
    let bytes = codec
        .encode(&tx, Framing::Confluent { schema_id: 3 })
        .unwrap();
    assert_eq!(
        codec.decode_with_writer(&bytes, codec.schema()).unwrap().0,
        tx
    );

    // An older producer whose schema has no `is_fraud`: the reader's default (null) fills it in.
    let mut old: serde_json::Value = serde_json::from_str(codec.schema_json()).unwrap();
    old["fields"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["name"] != "is_fraud");
    let old = Schema::parse_str(&old.to_string()).unwrap();
    let record = Value::Record(vec![
        ("tx_id".into(), Value::String(tx.tx_id.clone())),
        ("event_time".into(), Value::TimestampMillis(tx.event_time)),
        ("step".into(), Value::Int(tx.step)),
        ("type".into(), Value::Enum(4, "TRANSFER".into())),
        ("amount".into(), Value::Double(tx.amount)),
        ("name_orig".into(), Value::String(tx.name_orig.clone())),
        (
            "old_balance_orig".into(),
            Value::Double(tx.old_balance_orig),
        ),
        (
            "new_balance_orig".into(),
            Value::Double(tx.new_balance_orig),
        ),
        ("name_dest".into(), Value::String(tx.name_dest.clone())),
        (
            "old_balance_dest".into(),
            Value::Double(tx.old_balance_dest),
        ),
        (
            "new_balance_dest".into(),
            Value::Double(tx.new_balance_dest),
        ),
    ]);
    let mut message = vec![0, 0, 0, 0, 9];
    GenericDatumWriter::builder(&old)
        .build()
        .unwrap()
        .write_value(&mut message, record)
        .unwrap();
    let (decoded, framing) = codec.decode_with_writer(&message, &old).unwrap();
    assert_eq!(
        decoded,
        Transaction {
            is_fraud: None,
            ..tx
        }
    );
    assert_eq!(framing, Framing::Confluent { schema_id: 9 });

    // A single-object message must carry the writer's fingerprint.
    let single = codec
        .encode(&transaction(None), Framing::SingleObject)
        .unwrap();
    assert!(matches!(
        codec.decode_with_writer(&single, &old),
        Err(CodecError::UnknownFingerprint { .. })
    ));
    for len in 0..message.len() {
        assert!(codec.decode_with_writer(&message[..len], &old).is_err());
    }
}
