//! The join window: matching either way round, duplicates, and both kinds of eviction; the
//! three-sided join: a label meets the live and the shadow verdict of its transaction.

use super::*;
use aegis_core::{Decision, TxType};

fn verdict(tx_id: &str) -> Held {
    verdict_by(tx_id, "rf-1", Decision::Block)
}

fn verdict_by(tx_id: &str, model_version: &str, decision: Decision) -> Held {
    Held::Verdict(Verdict {
        tx_id: tx_id.into(),
        account: "C1".into(),
        amount: 10.0,
        tx_type: TxType::Transfer,
        event_time: 1_000,
        fraud_probability: 0.9,
        decision,
        reasons: vec![],
        model_version: model_version.into(),
        scored_at: 1_010,
        rules: Vec::new(),
        features: Vec::new(),
        explanation: None,
    })
}

fn label(tx_id: &str) -> Held {
    Held::Label(Label {
        tx_id: tx_id.into(),
        is_fraud: true,
        labelled_at: 2_000,
        source: None,
        event_time: None,
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
    let mut join = JoinWindow::new(Role::Live, Duration::from_secs(60), 100);
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
    let mut join = JoinWindow::new(Role::Live, Duration::from_secs(60), 100);
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
    let mut join = JoinWindow::new(Role::Live, Duration::from_secs(10), 100);
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
                role: Role::Live,
                source: source(Side::Verdict, 0, 1),
                reason: EvictionReason::Window,
                label: None,
            },
            Eviction {
                role: Role::Live,
                source: source(Side::Label, 0, 2),
                reason: EvictionReason::Window,
                label: Some(label_of(&label("b"))),
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
    let mut join = JoinWindow::new(Role::Live, Duration::from_secs(3600), 3);
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        assert!(join.offer(0, i as i64, verdict(id), t0).evicted.is_empty());
    }
    let offered = join.offer(1, 10, label("d"), t0);
    assert_eq!(
        offered.evicted,
        [Eviction {
            role: Role::Live,
            source: source(Side::Verdict, 0, 0),
            reason: EvictionReason::Capacity,
            label: None,
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
    let mut join = JoinWindow::new(Role::Live, Duration::from_secs(60), 100);
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

fn label_of(held: &Held) -> Label {
    match held {
        Held::Label(l) => l.clone(),
        Held::Verdict(_) => unreachable!(),
    }
}

#[test]
fn a_label_meets_the_live_and_the_shadow_verdict_in_any_order() {
    let t0 = Instant::now();
    let mut joins = Joins::new(Duration::from_secs(60), 100, true);
    assert_eq!(joins.uses(Side::Label), 2);
    assert_eq!(joins.uses(Side::Verdict), 1);
    assert_eq!(joins.uses(Side::ShadowVerdict), 1);

    // Shadow verdict first, then the label (meets it), then the live verdict (meets the label).
    let shadow = verdict_by("a", "rf-shadow", Decision::Allow);
    let offered = joins.offer(Side::ShadowVerdict, 2, 10, shadow, t0);
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0].role, Role::Shadow);
    assert!(offered[0].matched.is_none());
    assert_eq!(joins.pending(Role::Shadow, Side::ShadowVerdict), 1);
    assert_eq!(joins.pending(Role::Live, Side::Verdict), 0);

    let offered = joins.offer(Side::Label, 2, 3, label("a"), t0);
    assert_eq!(offered.len(), 2, "a label goes to both windows");
    assert_eq!(
        (offered[0].role, offered[1].role),
        (Role::Live, Role::Shadow)
    );
    assert!(offered[0].matched.is_none(), "no live verdict yet");
    let shadow_match = offered[1].matched.clone().unwrap();
    assert_eq!(shadow_match.role, Role::Shadow);
    assert_eq!(shadow_match.verdict.model_version, "rf-shadow");
    assert_eq!(shadow_match.verdict.decision, Decision::Allow);
    assert_eq!(
        shadow_match.sources,
        [
            source(Side::ShadowVerdict, 2, 10),
            source(Side::Label, 2, 3)
        ]
    );
    assert_eq!(
        (
            joins.pending(Role::Live, Side::Label),
            joins.pending(Role::Shadow, Side::Label)
        ),
        (1, 0),
        "the label still waits for the live verdict"
    );

    let offered = joins.offer(Side::Verdict, 2, 20, verdict("a"), t0);
    let live_match = offered[0].matched.clone().unwrap();
    assert_eq!(live_match.role, Role::Live);
    assert_eq!(live_match.verdict.decision, Decision::Block);
    assert_eq!(live_match.label, label_of(&label("a")));
    assert_eq!(
        live_match.sources,
        [source(Side::Verdict, 2, 20), source(Side::Label, 2, 3)]
    );
    for role in Role::ALL {
        for side in Side::joined_by(role) {
            assert_eq!(joins.pending(role, side), 0, "{role:?} {side:?}");
        }
    }
}

#[test]
fn a_shadow_verdict_never_meets_a_live_one_nor_another_partition() {
    let t0 = Instant::now();
    let mut joins = Joins::new(Duration::from_secs(60), 100, true);
    joins.offer(Side::Verdict, 0, 1, verdict("a"), t0);
    let offered = joins.offer(Side::ShadowVerdict, 0, 1, verdict("a"), t0);
    assert!(offered[0].matched.is_none() && offered[0].replaced.is_none());
    // The label of partition 1 is another account's: it meets neither.
    let offered = joins.offer(Side::Label, 1, 1, label("a"), t0);
    assert!(offered.iter().all(|o| o.matched.is_none()));
    // The label of partition 0 meets both.
    let offered = joins.offer(Side::Label, 0, 2, label("a"), t0);
    assert!(offered.iter().all(|o| o.matched.is_some()));
}

#[test]
fn labels_never_met_by_a_shadow_verdict_are_evicted_by_the_shadow_window() {
    let t0 = Instant::now();
    let mut joins = Joins::new(Duration::from_secs(10), 100, true);
    joins.offer(Side::Label, 0, 5, label("a"), t0);
    let offered = joins.offer(Side::Verdict, 0, 6, verdict("a"), secs(t0, 1));
    assert!(offered[0].matched.is_some());
    // No shadow model scored it: the shadow window gives up on the label after the window.
    assert_eq!(
        joins.evict_expired(secs(t0, 11)),
        [Eviction {
            role: Role::Shadow,
            source: source(Side::Label, 0, 5),
            reason: EvictionReason::Window,
            label: Some(label_of(&label("a"))),
        }]
    );
    assert_eq!(joins.drop_partition(0), 0);
}

#[test]
fn without_shadow_verdicts_a_label_goes_to_the_live_window_alone() {
    let t0 = Instant::now();
    let mut joins = Joins::new(Duration::from_secs(60), 100, false);
    assert_eq!(joins.uses(Side::Label), 1);
    assert_eq!(joins.uses(Side::ShadowVerdict), 0);
    assert!(joins
        .offer(Side::ShadowVerdict, 0, 1, verdict("a"), t0)
        .is_empty());
    let offered = joins.offer(Side::Label, 0, 2, label("a"), t0);
    assert_eq!(offered.len(), 1);
    assert_eq!(joins.pending(Role::Shadow, Side::Label), 0);
    joins.offer(Side::Verdict, 1, 1, verdict("b"), t0);
    assert_eq!(joins.drop_partition(0), 1);
    assert_eq!(joins.pending(Role::Live, Side::Verdict), 1);
}
