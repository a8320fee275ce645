//! With a Schema Registry (an in-process fake of the Confluent API: no real registry runs on
//! these machines): the producer and scorer register their schemas and write the Confluent wire
//! format; input written with another registered schema resolves; an unknown id is a dead letter.

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::{DeadLetterReason, Decision, TxType};
use aegis_kafka::produce::read_dead_letter;
use aegis_kafka::registry::{subject_for, SchemaRegistry};
use aegis_testkit::fake_registry::FakeSchemaRegistry;
use rdkafka::Message;

use crate::{transaction, Pipeline, Replica};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_and_scorer_speak_the_confluent_wire_format_through_the_registry() {
    let pipeline = Pipeline::start().await;
    let registry = FakeSchemaRegistry::start();
    let mut config = pipeline.scorer_config("registry");
    config.schema_registry_url = Some(registry.url());
    let replica = Replica::start(config);

    // The producer registers the transaction schema and frames with its id.
    let producer = aegis_producer::ProducerConfig {
        simulate: true,
        count: Some(200),
        scenario: Some(aegis_producer::Scenario::AccountTakeover),
        takeover_every: 50,
        seed: 9,
        schema_registry_url: Some(registry.url()),
        ..aegis_producer::ProducerConfig::new(pipeline.broker.bootstrap(), pipeline.input.clone())
    };
    tokio::task::spawn_blocking(move || {
        aegis_producer::run(
            &producer,
            aegis_producer::Counters::new(),
            &Default::default(),
        )
    })
    .await
    .unwrap()
    .unwrap();

    // Another team's producer writes with an evolved schema (an extra field with a default)...
    let tx = transaction(
        "evolved-1",
        "C31337",
        TxType::Transfer,
        181_000.0,
        181_000.0,
        0.0,
    );
    let (_, evolved_message) =
        registry.evolved_transaction_message(&subject_for(&pipeline.input), &tx);
    // ...and someone writes with an id the registry never issued.
    let mut unknown = AvroCodec::transaction()
        .encode(&tx, Framing::Confluent { schema_id: 999 })
        .unwrap();
    unknown[1..5].copy_from_slice(&999u32.to_be_bytes());
    pipeline
        .publish(&[
            ("C31337".into(), evolved_message),
            ("C31338".into(), unknown),
        ])
        .await;

    let messages = pipeline.read(&pipeline.verdicts, 201, std::time::Duration::from_secs(60));
    let dead = pipeline.read(&pipeline.dlq, 1, std::time::Duration::from_secs(30));
    replica.stop().await;

    assert_eq!(messages.len(), 201);
    let client = SchemaRegistry::new(&registry.url()).unwrap();
    let verdict_id = client
        .register(
            &subject_for(&pipeline.verdicts),
            AvroCodec::verdict().schema_json(),
        )
        .unwrap();
    let mut evolved_verdict = None;
    for m in &messages {
        let payload = m.payload().unwrap();
        assert_eq!(
            Framing::detect(payload).unwrap(),
            Framing::Confluent {
                schema_id: verdict_id
            }
        );
        // What a Confluent deserializer does: fetch the writer schema by id and decode.
        let schema = client.schema(verdict_id).unwrap();
        let (v, _) = AvroCodec::verdict()
            .decode_with_writer(payload, &schema)
            .unwrap();
        if v.tx_id == "evolved-1" {
            evolved_verdict = Some(v);
        }
    }
    assert_eq!(
        evolved_verdict
            .expect("a verdict for the evolved message")
            .decision,
        Decision::Block
    );
    assert_eq!(dead.len(), 1);
    let letter = read_dead_letter(&dead[0]).expect("the contract's headers");
    assert_eq!(letter.reason, DeadLetterReason::UnknownSchema);
}
