//! `--replay`: every row once (or again with new ids), in step order, keyed by account.

use std::collections::HashSet;

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_publishes_every_row_once_keyed_by_account_in_step_order() {
    let (broker, topic) = broker_with_topic("replay").await;
    let config = ProducerConfig {
        replay: Some(data("paysim_fraud_enriched_steps_1-400.csv")),
        count: Some(3_000),
        ..ProducerConfig::new(broker.bootstrap(), &topic)
    };
    let summary = produce(config).await.unwrap();
    assert_eq!(
        (summary.sent, summary.delivered, summary.failed),
        (3_000, 3_000, 0)
    );

    let messages = read_all(&broker, &topic, 3_000);
    assert_eq!(messages.len(), 3_000, "exactly N messages");
    let ids: HashSet<_> = messages.iter().map(|m| m.tx.tx_id.clone()).collect();
    assert_eq!(ids.len(), 3_000, "distinct transactions");
    for m in &messages {
        assert_eq!(m.key, m.tx.name_orig, "keyed by origin account");
        m.tx.validate().unwrap();
        assert!(m.tx.tx_id.starts_with("ps-"), "the row's id is kept");
        assert!(
            m.tx.event_time > 1_700_000_000_000,
            "stamped when published"
        );
        assert!(m.tx.is_fraud.is_some(), "the label is kept");
    }
    // Within a partition, steps never go backwards.
    for p in 0..PARTITIONS {
        let steps: Vec<i32> = messages
            .iter()
            .filter(|m| m.partition == p)
            .map(|m| m.tx.step)
            .collect();
        assert!(
            steps.windows(2).all(|w| w[0] <= w[1]),
            "partition {p} out of step order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_beyond_the_file_replays_it_again_with_new_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("three.csv");
    std::fs::write(
        &path,
        "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud\n\
         2,PAYMENT,1.0,C1,5.0,4.0,M1,0.0,0.0,0,0\n\
         1,TRANSFER,5.0,C2,5.0,0.0,C9,0.0,0.0,1,0\n\
         1,CASH_OUT,5.0,C9,5.0,0.0,C8,10.0,15.0,1,0\n",
    )
    .unwrap();
    let (broker, topic) = broker_with_topic("again").await;
    let config = ProducerConfig {
        replay: Some(path),
        count: Some(7),
        ..ProducerConfig::new(broker.bootstrap(), &topic)
    };
    assert_eq!(produce(config).await.unwrap().delivered, 7);
    let messages = read_all(&broker, &topic, 7);
    let mut ids: Vec<_> = messages.iter().map(|m| m.tx.tx_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "ps-1-C2-5.00",
            "ps-1-C2-5.00-r2",
            "ps-1-C2-5.00-r3",
            "ps-1-C9-5.00",
            "ps-1-C9-5.00-r2",
            "ps-2-C1-1.00",
            "ps-2-C1-1.00-r2",
        ]
    );
}

/// The Java client's default partitioner, as `aegis_kafka::java_partition` computes it from the
/// Java source, apart from librdkafka's.
fn java_partition(key: &[u8], partitions: u32) -> i32 {
    aegis_kafka::java_partition(key, partitions as i32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_go_to_the_partition_the_java_client_would_choose() {
    let (broker, topic) = broker_with_topic("murmur2").await;
    let config = ProducerConfig {
        simulate: true,
        count: Some(400),
        ..ProducerConfig::new(broker.bootstrap(), &topic)
    };
    produce(config).await.unwrap();
    let messages = read_all(&broker, &topic, 400);
    assert_eq!(messages.len(), 400);
    for m in &messages {
        assert_eq!(
            m.partition,
            java_partition(m.key.as_bytes(), PARTITIONS as u32),
            "{}",
            m.key
        );
    }
}
