//! `--simulate`: paced, per-account order kept, stopped by `--duration` or a stop request.

use std::time::Duration;

use aegis_core::TxType;
use aegis_producer::Scenario;

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_with_takeover_keeps_each_accounts_order_and_the_rate() {
    let (broker, topic) = broker_with_topic("sim").await;
    let config = ProducerConfig {
        simulate: true,
        scenario: Some(Scenario::AccountTakeover),
        takeover_every: 100,
        count: Some(1_000),
        rate: Some(2_000.0),
        ..ProducerConfig::new(broker.bootstrap(), &topic)
    };
    let summary = produce(config).await.unwrap();
    assert_eq!((summary.sent, summary.delivered), (1_000, 1_000));
    // Paced: 1,000 at 2,000/s take their half second of slots at least.
    assert!(summary.elapsed >= Duration::from_millis(500), "{summary}");

    let messages = read_all(&broker, &topic, 1_000);
    assert_eq!(messages.len(), 1_000);
    let takeovers: Vec<_> = messages
        .iter()
        .filter(|m| {
            m.tx.tx_type == TxType::Transfer
                && m.tx.is_fraud == Some(true)
                && m.tx.old_balance_orig == m.tx.amount
        })
        .collect();
    assert!(takeovers.len() >= 9, "{}", takeovers.len());
    for transfer in takeovers {
        // Its account's earlier transactions sit before it on the same partition.
        let same: Vec<_> = messages.iter().filter(|m| m.key == transfer.key).collect();
        assert!(same.iter().all(|m| m.partition == transfer.partition));
        if same.len() == 2 {
            assert_eq!(same[0].tx.tx_type, TxType::Payment, "small payment first");
            assert_eq!(same[1].tx.tx_id, transfer.tx.tx_id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_ends_the_run_and_everything_sent_is_delivered() {
    let (broker, topic) = broker_with_topic("duration").await;
    let config = ProducerConfig {
        simulate: true,
        rate: Some(100.0),
        duration: Some(Duration::from_millis(500)),
        ..ProducerConfig::new(broker.bootstrap(), &topic)
    };
    let summary = produce(config).await.unwrap();
    // Slots at 0, 10, … 490 ms: 50 at most (fewer only if the machine stalled).
    assert!((1..=50).contains(&summary.sent), "{summary}");
    assert_eq!(summary.delivered, summary.sent);
    assert_eq!(read_all(&broker, &topic, 50).len() as u64, summary.sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_request_ends_an_endless_slow_simulation_and_flushes() {
    let (broker, topic) = broker_with_topic("stop").await;
    let config = ProducerConfig {
        simulate: true,
        rate: Some(0.5), // one every two seconds: a stop must not wait for the next slot
        ..ProducerConfig::new(broker.bootstrap(), &topic)
    };
    let cancel = CancellationToken::new();
    let run = tokio::spawn(produce_until(config, cancel.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    cancel.cancel();
    let summary = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the producer stops when asked")
        .unwrap()
        .unwrap();
    assert_eq!((summary.sent, summary.delivered), (1, 1), "{summary}");
    assert_eq!(read_all(&broker, &topic, 1).len(), 1);
}
