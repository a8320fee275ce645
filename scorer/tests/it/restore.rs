//! A partition's restore does not hold up the scoring of another partition: the changelog is read
//! without the state lock. The restore is made to block until released, so the test needs no
//! timing: the other partition's batch is scored while the restore is still reading.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::{Transaction, TxType};
use aegis_scorer::stream::intake::Received;
use aegis_scorer::stream::process::{score_batch, Output};
use aegis_scorer::stream::state::{Restore, StateLimits, StateStore};
use aegis_scorer::ReplicaState;

use crate::Pipeline;

/// Partition `partition`'s message at `offset`: a payment of `account`.
fn message(partition: i32, offset: i64, account: &str) -> Received {
    let mut tx = Transaction::takeover_example();
    tx.tx_id = format!("{account}-{offset}");
    tx.name_orig = account.to_owned();
    tx.tx_type = TxType::Payment;
    tx.amount = 10.0;
    tx.new_balance_orig = tx.old_balance_orig - 10.0;
    Received {
        partition,
        offset,
        epoch: 1,
        key: Some(account.as_bytes().to_vec()),
        payload: Some(
            AvroCodec::transaction()
                .encode(&tx, Framing::SingleObject)
                .unwrap(),
        ),
    }
}

#[test]
fn restoring_one_partition_does_not_hold_up_another_partitions_batch() {
    // Partition 0's changelog read blocks until released; every other partition's is empty.
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let (entered_tx, released) = (Mutex::new(entered_tx), Mutex::new(released));
    let restore: Restore = Arc::new(move |partition| {
        if partition == 0 {
            entered_tx.lock().unwrap().send(()).unwrap();
            released.lock().unwrap().recv().unwrap();
        }
        Ok(HashMap::new())
    });
    let config = Pipeline::config_without_broker();
    let mut replica = ReplicaState::new(&config).unwrap();
    let limits = StateLimits {
        params: Default::default(),
        max_accounts: 1_000,
        ttl_ms: i64::MAX / 2,
        max_skew_ms: 300_000,
    };
    replica.states = StateStore::new(limits, Some(restore), replica.metrics.clone());
    let replica = Arc::new(replica);

    // The restore stage takes partition 0 (epoch 1) and is stuck reading its changelog.
    let restoring = {
        let replica = replica.clone();
        std::thread::spawn(move || replica.states.restore(0, 1, || true))
    };
    entered.recv_timeout(Duration::from_secs(60)).unwrap();

    // Meanwhile a batch of partition 1 is scored, restoring partition 1 on the way.
    let batch = [
        message(1, 0, "C1"),
        message(1, 1, "C1"),
        message(1, 2, "C2"),
    ];
    let scored = {
        let (replica, done_tx) = (replica.clone(), mpsc::channel());
        let (done, done_rx) = done_tx;
        std::thread::spawn(move || {
            let scored = score_batch(&replica, &batch, aegis_core::clock::now_ms());
            let _ = done.send(scored.map(|s| s.outputs));
        });
        done_rx.recv_timeout(Duration::from_secs(60))
    };
    let outputs = scored
        .expect("partition 1's batch was held up by partition 0's restore")
        .unwrap();
    assert_eq!(outputs.len(), 3);
    assert!(outputs.iter().all(|o| matches!(o, Output::Verdict { .. })));
    assert!(
        !restoring.is_finished(),
        "partition 0's restore was still reading"
    );

    release.send(()).unwrap();
    let restored = restoring.join().unwrap().unwrap().unwrap();
    assert_eq!((restored.partition, restored.accounts), (0, 0));
}

/// Item 8 of issue 29: a changelog not yet compacted holds every state an account went through.
/// 10,000 accounts, each written 10 times as its history grows (a payment more each time), a
/// tenth of them then tombstoned: the restore keeps the latest state of each and none of the
/// tombstoned. It prints how long the read took (a figure for docs, not a pass/fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_from_an_uncompacted_changelog_keeps_each_accounts_latest_state() {
    use aegis_core::account_state::AccountHistory;
    use aegis_scorer::stream::state::{changelog_restore, ChangelogRecord, Stored};
    use rdkafka::producer::{FutureProducer, FutureRecord};

    const ACCOUNTS: usize = 10_000;
    const VERSIONS: usize = 10;
    let pipeline = Pipeline::start().await;
    let changelog = aegis_testkit::unique_topic("state");
    pipeline.broker.create_topics(&[(&changelog, 1)]).await;
    let producer: FutureProducer = aegis_kafka::Settings::changelog_producer()
        .set("linger.ms", 20)
        .client_config(&pipeline.broker.bootstrap(), &[])
        .create()
        .unwrap();
    let params = Default::default();
    let mut histories: Vec<AccountHistory> = vec![AccountHistory::default(); ACCOUNTS];
    let mut pending = Vec::new();
    let mut records = 0;
    for version in 0..VERSIONS {
        for (a, history) in histories.iter_mut().enumerate() {
            let mut tx = Transaction::takeover_example();
            tx.name_orig = format!("C{a}");
            tx.tx_id = format!("C{a}-{version}");
            tx.event_time = 1_700_000_000_000 + (version * 60_000) as i64;
            history.record(&tx, (version * ACCOUNTS + a) as i64, &params);
            let tombstone = version == VERSIONS - 1 && a % 10 == 0;
            let record = ChangelogRecord {
                partition: 0,
                account: tx.name_orig.clone(),
                state: (!tombstone).then(|| Stored {
                    history: history.clone(),
                    last_seen_ms: tx.event_time,
                }),
            };
            let value = record.value().unwrap();
            let mut kafka = FutureRecord::to(&changelog).partition(0).key(record.key());
            if let Some(value) = &value {
                kafka = kafka.payload(value.as_slice());
            }
            pending.push(producer.send_result(kafka).unwrap());
            records += 1;
        }
        for delivery in pending.drain(..) {
            delivery.await.unwrap().unwrap();
        }
    }
    let config = aegis_scorer::ScorerConfig {
        state_changelog_topic: changelog.clone(),
        ..pipeline.scorer_config("restore-uncompacted")
    };
    let restore = changelog_restore(&config).unwrap();
    let started = std::time::Instant::now();
    let restored = tokio::task::spawn_blocking(move || restore(0))
        .await
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(
        restored.len(),
        ACCOUNTS - ACCOUNTS / 10,
        "tombstoned accounts are gone"
    );
    for (a, history) in histories.iter().enumerate() {
        let account = format!("C{a}");
        if a % 10 == 0 {
            assert!(!restored.contains_key(&account), "{account} was tombstoned");
            continue;
        }
        let stored = &restored[&account];
        assert_eq!(stored.history, *history, "{account}: its latest state");
        assert_eq!(
            stored.last_seen_ms,
            1_700_000_000_000 + ((VERSIONS - 1) * 60_000) as i64
        );
    }
    eprintln!(
        "restored {} accounts from {records} changelog records ({VERSIONS} per account) in {:.2} s: {:.0} records/s (debug build)",
        restored.len(),
        took.as_secs_f64(),
        records as f64 / took.as_secs_f64()
    );
}

/// A restore that cannot finish in time stops with one line that names the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_that_cannot_finish_names_its_timeout_flag() {
    let config = aegis_scorer::ScorerConfig {
        state_changelog_topic: "scorer.state".to_owned(),
        state_restore_timeout_secs: 1,
        ..Pipeline::config_without_broker()
    };
    let restore = aegis_scorer::stream::state::changelog_restore(&config).unwrap();
    let error = tokio::task::spawn_blocking(move || restore(0))
        .await
        .unwrap()
        .unwrap_err();
    let line = format!("{error:#}");
    assert!(
        line.contains("within --state-restore-timeout 1 s"),
        "{line}"
    );
}
