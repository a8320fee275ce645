//! Replicas in one consumer group split the partitions and together produce every verdict; a
//! replica stopped and another started resumes from the committed offsets with nothing lost.

use aegis_core::TxType;

use crate::{transaction, Pipeline, Replica};

fn batch(prefix: &str, n: usize) -> Vec<aegis_core::Transaction> {
    (0..n)
        .map(|i| {
            let amount = 100.0 + (i % 50) as f64;
            transaction(
                &format!("{prefix}-{i}"),
                &format!("C{prefix}{i}"),
                TxType::CashOut,
                amount,
                5_000.0,
                5_000.0 - amount,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_split_the_partitions_and_produce_every_verdict() {
    let pipeline = Pipeline::start().await;
    let a = Replica::start(pipeline.scorer_config("pair"));
    a.wait_for_partitions().await;
    let b = Replica::start(pipeline.scorer_config("pair"));
    b.wait_for_partitions().await;
    // Wait until the group settled with both members holding partitions.
    for _ in 0..300 {
        let (pa, pb) = (a.assignment.partitions(), b.assignment.partitions());
        if !pa.is_empty() && !pb.is_empty() && pa.len() + pb.len() == crate::PARTITIONS as usize {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (pa, pb) = (a.assignment.partitions(), b.assignment.partitions());
    assert!(
        pa.iter().all(|p| !pb.contains(p)),
        "no partition is held twice: {pa:?} {pb:?}"
    );

    let n = 2_000;
    pipeline.publish_transactions(&batch("pair", n)).await;
    let (messages, verdicts) = pipeline.read_verdicts(n);
    let (sa, sb) = (a.stop().await, b.stop().await);
    assert_eq!(verdicts.len(), n, "every transaction has a verdict");
    assert_eq!(messages.len(), n, "and only one");
    assert!(
        sa.received_total() > 0 && sb.received_total() > 0,
        "both replicas scored"
    );
    assert_eq!(sa.received_total() + sb.received_total(), n as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_replica_resumes_from_committed_offsets() {
    let pipeline = Pipeline::start().await;
    let first = Replica::start(pipeline.scorer_config("restart"));
    pipeline.publish_transactions(&batch("before", 1_000)).await;
    let (_, verdicts) = pipeline.read_verdicts(1_000);
    assert_eq!(verdicts.len(), 1_000);
    let stats = first.stop().await;
    assert_eq!(stats.received_total(), 1_000);

    pipeline.publish_transactions(&batch("after", 1_000)).await;
    let second = Replica::start(pipeline.scorer_config("restart"));
    let (messages, verdicts) = pipeline.read_verdicts(2_000);
    let stats = second.stop().await;
    assert_eq!(verdicts.len(), 2_000, "nothing lost");
    assert_eq!(messages.len(), 2_000, "nothing repeated after a clean stop");
    assert_eq!(
        stats.received_total(),
        1_000,
        "resumed from the committed offsets"
    );
}
