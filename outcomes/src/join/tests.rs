//! The join window: matching either way round, duplicates, and both kinds of eviction.

use super::*;
use aegis_core::{Decision, TxType};

fn verdict(tx_id: &str) -> Held {
    Held::Verdict(Verdict {
        tx_id: tx_id.into(),
        account: "C1".into(),
        amount: 10.0,
        tx_type: TxType::Transfer,
        event_time: 1_000,
        fraud_probability: 0.9,
        decision: Decision::Block,
        reasons: vec![],
        model_version: "rf-1".into(),
        scored_at: 1_010,
        rules: Vec::new(),
    })
}

fn label(tx_id: &str) -> Held {
    Held::Label(Label {
        tx_id: tx_id.into(),
        is_fraud: true,
        labelled_at: 2_000,
        source: None,
    })
}

fn secs(start: Instant, s: u64) -> Instant {
    start + Duration::from_secs(s)
}

fn source(side: Side, partition: i32, offset: i64) -> Source {
    Source {
        side,
        partition,
        offset,
    }
}

#[test]
fn a_verdict_and_its_label_meet_whichever_comes_first() {
    let t0 = Instant::now();
    let mut join = JoinWindow::new(Duration::from_secs(60), 100);
    assert_eq!(join.offer(0, 7, verdict("a"), t0), Offered::default());
    assert_eq!(join.pending(Side::Verdict), 1);
    let offered = join.offer(0, 3, label("a"), secs(t0, 1));
    let matched = offered.matched.unwrap();
    assert_eq!(matched.verdict.tx_id, "a");
    assert!(matched.label.is_fraud);
    assert_eq!(
        matched.sources,
        [source(Side::Verdict, 0, 7), source(Side::Label, 0, 3)]
    );
    assert!(join.is_empty());

    // The label first this time.
    assert!(join.offer(1, 4, label("b"), t0).matched.is_none());
    let matched = join.offer(1, 9, verdict("b"), t0).matched.unwrap();
    assert_eq!(
        matched.sources,
        [source(Side::Verdict, 1, 9), source(Side::Label, 1, 4)]
    );
    assert!(join.is_empty());
}

#[test]
fn the_same_id_on_another_partition_or_side_does_not_match() {
    let t0 = Instant::now();
    let mut join = JoinWindow::new(Duration::from_secs(60), 100);
    join.offer(0, 1, verdict("a"), t0);
    assert!(join.offer(1, 1, label("a"), t0).matched.is_none());
    let offered = join.offer(0, 2, verdict("a"), t0);
    assert!(
        offered.matched.is_none(),
        "two verdicts do not make an outcome"
    );
    assert_eq!(offered.replaced, Some(source(Side::Verdict, 0, 1)));
    assert_eq!(
        (join.pending(Side::Verdict), join.pending(Side::Label)),
        (1, 1)
    );
    // The replacing duplicate is the one that matches.
    let matched = join.offer(0, 5, label("a"), t0).matched.unwrap();
    assert_eq!(matched.sources[0], source(Side::Verdict, 0, 2));
}

#[test]
fn entries_older_than_the_window_are_evicted_oldest_first() {
    let t0 = Instant::now();
    let mut join = JoinWindow::new(Duration::from_secs(10), 100);
    join.offer(0, 1, verdict("a"), t0);
    join.offer(0, 2, label("b"), secs(t0, 5));
    join.offer(2, 3, verdict("c"), secs(t0, 8));
    assert!(
        join.evict_expired(secs(t0, 10)).is_empty(),
        "10 s is within"
    );
    let evicted = join.evict_expired(secs(t0, 16));
    assert_eq!(
        evicted,
        [
            Eviction {
                source: source(Side::Verdict, 0, 1),
                reason: EvictionReason::Window
            },
            Eviction {
                source: source(Side::Label, 0, 2),
                reason: EvictionReason::Window
            },
        ]
    );
    assert_eq!(join.len(), 1);
    // An evicted verdict's label comes too late: it waits in turn, and is evicted too.
    assert!(join.offer(0, 4, label("a"), secs(t0, 17)).matched.is_none());
    assert_eq!(join.evict_expired(secs(t0, 100)).len(), 2);
    assert!(join.is_empty());
}

#[test]
fn beyond_max_pending_the_oldest_is_evicted() {
    let t0 = Instant::now();
    let mut join = JoinWindow::new(Duration::from_secs(3600), 3);
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        assert!(join.offer(0, i as i64, verdict(id), t0).evicted.is_empty());
    }
    let offered = join.offer(1, 10, label("d"), t0);
    assert_eq!(
        offered.evicted,
        [Eviction {
            source: source(Side::Verdict, 0, 0),
            reason: EvictionReason::Capacity
        }]
    );
    assert_eq!(join.len(), 3);
    // A match frees room without evicting.
    assert!(join.offer(0, 11, label("b"), t0).matched.is_some());
    assert!(join.offer(0, 12, verdict("e"), t0).evicted.is_empty());
    assert_eq!(join.len(), 3);
}

#[test]
fn a_partition_taken_away_drops_only_its_own_entries() {
    let t0 = Instant::now();
    let mut join = JoinWindow::new(Duration::from_secs(60), 100);
    join.offer(0, 1, verdict("a"), t0);
    join.offer(1, 1, verdict("b"), t0);
    join.offer(1, 2, label("c"), t0);
    assert_eq!(join.drop_partition(1), 2);
    assert_eq!(join.len(), 1);
    // Nothing of partition 1 is left to evict later.
    let evicted = join.evict_expired(secs(t0, 61));
    assert_eq!(evicted.len(), 1);
    assert_eq!(evicted[0].source.partition, 0);
}
