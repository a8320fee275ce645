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
