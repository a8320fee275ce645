#![allow(clippy::unwrap_used)]

use super::*;
use aegis_core::TxType;

fn tx(account: &str, time_ms: i64) -> Transaction {
    let mut tx = Transaction::takeover_example();
    tx.name_orig = account.into();
    tx.event_time = time_ms;
    tx.tx_type = TxType::Payment;
    tx
}

fn limits(max_accounts: usize, ttl_ms: i64) -> StateLimits {
    StateLimits {
        params: StateParams::default(),
        max_accounts,
        ttl_ms,
    }
}

/// Partition 0 under `epoch`, at `offset`.
fn at(epoch: u64, offset: i64) -> At {
    At {
        partition: 0,
        epoch,
        offset,
    }
}

#[test]
fn accounts_are_bounded_by_capacity_and_time_to_live() {
    let mut states = States::new(limits(3, 10_000));
    let mut changes = Changes::default();
    let mut evicted = 0;
    for (i, account) in ["a", "b", "c", "a", "d"].iter().enumerate() {
        let i = i as i64;
        evicted += states
            .observe(at(1, i), &tx(account, i), &mut changes)
            .evicted_for_capacity;
    }
    // "b" was the least recently seen when "d" arrived: a tombstone in the changelog.
    assert_eq!(evicted, 1);
    assert_eq!(changes.get(0, "b"), Some(&None));
    assert_eq!(states.accounts(), 3);
    let f = states.observe(at(1, 5), &tx("a", 5), &mut changes);
    assert_eq!(f.features.count_short, 2, "a's history survived");
    // Much later in event time: every other account expires.
    let later = states.observe(at(1, 6), &tx("e", 100_000), &mut changes);
    assert_eq!(states.accounts(), 1);
    assert_eq!((later.expired, later.evicted_for_capacity), (3, 0));
}

#[test]
fn a_new_assignment_restores_from_the_changelog_and_replays_are_not_counted_twice() {
    let mut changes = Changes::default();
    let mut first = States::new(limits(10, 1_000_000));
    first.observe(at(1, 7), &tx("a", 1), &mut changes);
    let again = first.observe(at(1, 7), &tx("a", 1), &mut changes);
    assert_eq!(
        again.features.count_short, 0,
        "a replay sees only what came before it"
    );
    first.observe(at(1, 8), &tx("a", 2), &mut changes);

    // Another replica takes the partition: it installs what the changelog holds.
    let changelog: HashMap<String, Stored> = changes
        .into_records()
        .filter_map(|r| r.state.map(|s| (r.account, s)))
        .collect();
    let mut second = States::new(limits(10, 1_000_000));
    assert!(!second.holds(0, 1));
    assert!(second.install(0, 1, changelog.clone()));
    assert!(
        !second.install(0, 1, changelog),
        "an epoch is installed once"
    );
    let mut changes = Changes::default();
    // Offset 8 is read again (its commit was lost): the same features as the first time.
    let replayed = second.observe(at(1, 8), &tx("a", 2), &mut changes);
    assert_eq!(replayed.features.count_short, 1);
    let next = second.observe(at(1, 9), &tx("a", 3), &mut changes);
    assert_eq!(
        next.features.count_short, 2,
        "each transaction counted once"
    );
}

#[test]
fn memory_stays_bounded_over_a_million_transactions() {
    // 1,000,000 transactions over 200,000 accounts on 4 partitions, at most 10,000 accounts
    // per partition and 32 transactions per account.
    let mut states = States::new(limits(10_000, 3_600_000));
    let mut changes = Changes::default();
    let (mut evicted, mut most) = (0u64, 0);
    for i in 0..1_000_000i64 {
        let account = format!("C{}", i * 7_919 % 200_000);
        let at = At {
            partition: (i % 4) as i32,
            epoch: 1,
            offset: i,
        };
        let observed = states.observe(at, &tx(&account, i * 10), &mut changes);
        evicted += u64::from(observed.evicted_for_capacity + observed.expired);
        if i % 10_000 == 0 {
            changes = Changes::default();
            most = most.max(states.accounts());
        }
    }
    assert!(
        states.accounts() <= 40_000 && most <= 40_000,
        "{}",
        states.accounts()
    );
    assert!(evicted > 100_000, "evictions counted: {evicted}");
    assert!(states.longest_history() <= StateParams::default().max_recent);
}
