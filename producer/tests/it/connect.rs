//! What the user sees when the broker or the topic is not there: one clear error, early.

use std::time::Duration;

use aegis_producer::publish::Publisher;
use tokio_util::sync::CancellationToken;

use crate::*;

#[test]
fn an_unreachable_broker_is_an_error_naming_it() {
    let error = Publisher::connect(
        "127.0.0.1:1",
        "transactions",
        None,
        &[],
        Counters::new(),
        Duration::from_secs(1),
        &CancellationToken::new(),
    )
    .err()
    .unwrap();
    let message = format!("{error:#}");
    assert!(
        message.contains("cannot reach the Kafka brokers at 127.0.0.1:1")
            && message.contains("--brokers"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_topic_is_an_error_naming_it() {
    let (broker, _) = broker_with_topic("present").await;
    let config = ProducerConfig {
        simulate: true,
        count: Some(10),
        connect: aegis_kafka::ConnectFlags {
            connect_timeout_secs: 1,
        },
        ..ProducerConfig::new(broker.bootstrap(), "no-such-topic")
    };
    let message = format!("{:#}", produce(config).await.unwrap_err());
    assert!(
        message.contains("topic \"no-such-topic\" does not exist"),
        "{message}"
    );
}
