//! Tests of the registry client and decoder; the ones that need a registry use the in-process fake.

use super::*;

#[test]
fn subjects_follow_the_topic_name_strategy() {
    assert_eq!(subject_for("transactions"), "transactions-value");
}

#[test]
fn only_plain_http_urls_are_accepted() {
    for ok in [
        "http://localhost:8081",
        "http://redpanda:8081/",
        "http://10.0.0.1:8081/registry",
    ] {
        let registry = SchemaRegistry::new(ok).unwrap();
        assert!(!registry.url().ends_with('/'), "{ok}");
    }
    for bad in [
        "https://registry:8081",
        "localhost:8081",
        "ftp://x",
        "http://",
        "http://user:secret@registry:8081",
        "http://registry:8081?x=1",
        "http://regi stry:8081",
    ] {
        let err = SchemaRegistry::new(bad).err().unwrap();
        assert!(
            matches!(err, RegistryError::InvalidUrl { .. }),
            "{bad}: {err}"
        );
        assert!(
            err.is_unavailable(),
            "a bad URL is configuration, not the message's fault"
        );
    }
}

#[test]
fn a_closed_port_is_registry_unavailable_and_names_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let registry = Arc::new(SchemaRegistry::new(&url).unwrap());
    let decoder = RegistryDecoder::new(AvroCodec::transaction(), Arc::clone(&registry));
    let err = decoder.decode(&[0, 0, 0, 0, 1, 2]).unwrap_err();
    assert_eq!(err.dead_letter_reason(), None);
    assert!(err.is_retryable());
    assert!(err.to_string().contains(&url), "{err}");
    let err = registry
        .register("t-value", AvroCodec::transaction().schema_json())
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("{url}/subjects/t-value/versions")),
        "{err}"
    );
}

#[test]
fn subjects_are_percent_encoded() {
    assert_eq!(
        encode_segment("transactions.v2-value"),
        "transactions.v2-value"
    );
    assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
}

mod with_fake {
    use super::*;
    use aegis_core::{DeadLetterReason, Transaction};
    use aegis_testkit::fake_registry::FakeSchemaRegistry;

    fn client(fake: &FakeSchemaRegistry) -> Arc<SchemaRegistry> {
        Arc::new(SchemaRegistry::new(&fake.url()).unwrap())
    }

    #[test]
    fn register_returns_stable_ids() {
        let fake = FakeSchemaRegistry::start();
        let registry = client(&fake);
        let tx = AvroCodec::transaction().schema_json();
        let id = registry.register(&subject_for("transactions"), tx).unwrap();
        assert_eq!(id, 1);
        assert_eq!(
            registry.register(&subject_for("transactions"), tx).unwrap(),
            id
        );
        assert_eq!(registry.register(&subject_for("replayed"), tx).unwrap(), id);
        let verdicts = registry
            .framing_for("verdicts", AvroCodec::verdict())
            .unwrap();
        assert_eq!(verdicts, Framing::Confluent { schema_id: 2 });
        let restarted = client(&fake);
        assert_eq!(
            restarted
                .register(&subject_for("transactions"), tx)
                .unwrap(),
            id
        );
    }

    #[test]
    fn a_schema_is_fetched_once_then_cached() {
        let fake = FakeSchemaRegistry::start();
        let id = fake.register("transactions-value", AvroCodec::transaction().schema_json());
        let registry = client(&fake);
        let first = registry.schema(id).unwrap();
        let second = registry.schema(id).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(
            first.canonical_form(),
            AvroCodec::transaction().schema().canonical_form()
        );
        assert_eq!(fake.lookups(), 1);
        // A schema this client registered is known without any lookup.
        let verdict_id = registry
            .register("verdicts-value", AvroCodec::verdict().schema_json())
            .unwrap();
        registry.schema(verdict_id).unwrap();
        assert_eq!(fake.lookups(), 1);
    }

    #[test]
    fn confluent_round_trip_through_the_registry_id() {
        let fake = FakeSchemaRegistry::start();
        let producer = client(&fake);
        let framing = producer
            .framing_for("transactions", AvroCodec::transaction())
            .unwrap();
        let tx = Transaction::takeover_example();
        let message = AvroCodec::transaction().encode(&tx, framing).unwrap();
        // The scorer never registered the transaction schema: one lookup, then the fast path.
        let decoder = RegistryDecoder::new(AvroCodec::transaction(), client(&fake));
        for _ in 0..3 {
            assert_eq!(decoder.decode(&message).unwrap(), (tx.clone(), framing));
        }
        assert_eq!(fake.lookups(), 1);
    }

    #[test]
    fn single_object_messages_never_ask_the_registry() {
        let fake = FakeSchemaRegistry::start();
        let decoder = RegistryDecoder::new(AvroCodec::transaction(), client(&fake));
        let tx = Transaction::takeover_example();
        let message = AvroCodec::transaction()
            .encode(&tx, Framing::SingleObject)
            .unwrap();
        assert_eq!(
            decoder.decode(&message).unwrap(),
            (tx, Framing::SingleObject)
        );
        assert!(fake.requests().is_empty());
    }

    #[test]
    fn an_evolved_writer_schema_resolves_to_a_transaction() {
        let fake = FakeSchemaRegistry::start();
        let tx = Transaction::takeover_example();
        let (id, message) = fake.evolved_transaction_message("transactions-value", &tx);
        assert_eq!(
            AvroCodec::transaction()
                .decode(&message)
                .unwrap_err()
                .reason(),
            DeadLetterReason::TrailingBytes,
            "the evolved body is not ours"
        );
        let decoder = RegistryDecoder::new(AvroCodec::transaction(), client(&fake));
        assert_eq!(
            decoder.decode(&message).unwrap(),
            (tx, Framing::Confluent { schema_id: id })
        );
    }

    #[test]
    fn an_unknown_id_is_unknown_schema_and_final() {
        let fake = FakeSchemaRegistry::start();
        let decoder = RegistryDecoder::new(AvroCodec::transaction(), client(&fake));
        let message = AvroCodec::transaction()
            .encode(
                &Transaction::takeover_example(),
                Framing::Confluent { schema_id: 999 },
            )
            .unwrap();
        let err = decoder.decode(&message).unwrap_err();
        assert_eq!(
            err.dead_letter_reason(),
            Some(DeadLetterReason::UnknownSchema)
        );
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("schema id 999"), "{err}");
        assert!(err.to_string().contains(&fake.url()), "{err}");
    }

    #[test]
    fn codec_errors_keep_their_kind() {
        let fake = FakeSchemaRegistry::start();
        let registry = client(&fake);
        let decoder = RegistryDecoder::new(AvroCodec::transaction(), Arc::clone(&registry));
        let framing = registry.framing_for("t", AvroCodec::transaction()).unwrap();
        let mut message = AvroCodec::transaction()
            .encode(&Transaction::takeover_example(), framing)
            .unwrap();
        message.push(0);
        for (bytes, kind) in [
            (&b"{\"json\":1}"[..], DeadLetterReason::UnknownMagic),
            (&[0, 0], DeadLetterReason::Truncated),
            (&message, DeadLetterReason::TrailingBytes),
        ] {
            let err = decoder.decode(bytes).unwrap_err();
            assert_eq!(err.dead_letter_reason(), Some(kind), "{err}");
        }
    }

    #[test]
    fn an_outage_is_registry_unavailable_until_it_ends() {
        let fake = FakeSchemaRegistry::start();
        let tx = Transaction::takeover_example();
        let (id, message) = fake.evolved_transaction_message("transactions-value", &tx);
        let decoder = RegistryDecoder::new(AvroCodec::transaction(), client(&fake));
        fake.set_available(false);
        let err = decoder.decode(&message).unwrap_err();
        assert_eq!(err.dead_letter_reason(), None);
        assert!(err.is_retryable());
        assert!(
            err.to_string().contains("HTTP 500") && err.to_string().contains("50001"),
            "{err}"
        );
        fake.set_available(true);
        assert_eq!(
            decoder.decode(&message).unwrap(),
            (tx, Framing::Confluent { schema_id: id })
        );
    }

    #[test]
    fn a_stopped_registry_is_registry_unavailable_and_named() {
        let fake = FakeSchemaRegistry::start();
        let (_, message) = fake
            .evolved_transaction_message("transactions-value", &Transaction::takeover_example());
        let decoder = RegistryDecoder::new(AvroCodec::transaction(), client(&fake));
        let url = fake.url();
        drop(fake);
        let err = decoder.decode(&message).unwrap_err();
        assert_eq!(err.dead_letter_reason(), None);
        assert!(
            err.to_string().contains(&format!("{url}/schemas/ids/1")),
            "{err}"
        );
    }

    #[test]
    fn a_rejected_schema_reports_the_registry_error() {
        let fake = FakeSchemaRegistry::start();
        let err = client(&fake)
            .register("t-value", "{\"type\": \"nope\"}")
            .unwrap_err();
        let RegistryError::Status {
            status,
            error_code,
            ref message,
            ..
        } = err
        else {
            panic!("{err}")
        };
        assert_eq!((status, error_code), (422, Some(42201)));
        assert!(message.contains("Invalid schema"), "{message}");
        assert!(
            err.to_string().contains("/subjects/t-value/versions"),
            "{err}"
        );
    }
}

#[test]
fn a_url_with_credentials_is_refused_without_echoing_them() {
    let Err(err) = SchemaRegistry::new("http://bob:hunter2@registry:8081/prefix") else {
        panic!("a URL with credentials was accepted");
    };
    let message = err.to_string();
    assert!(
        !message.contains("hunter2") && !message.contains("bob"),
        "{message}"
    );
    assert!(
        message.contains("http://***@registry:8081/prefix"),
        "{message}"
    );
}
