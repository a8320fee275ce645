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

/// The wall clock of tests whose event times are milliseconds after 1970: as near as they are.
const WALL: i64 = 0;

fn limits(max_accounts: usize, ttl_ms: i64) -> StateLimits {
    StateLimits {
        params: StateParams::default(),
        max_accounts,
        ttl_ms,
        max_skew_ms: 300_000,
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
            .observe(at(1, i), &tx(account, i), WALL, &mut changes)
            .evicted_for_capacity;
    }
    // "b" was the least recently seen when "d" arrived: a tombstone in the changelog.
    assert_eq!(evicted, 1);
    assert_eq!(changes.get(0, "b"), Some(&None));
    assert_eq!(states.accounts(), 3);
    let f = states.observe(at(1, 5), &tx("a", 5), WALL, &mut changes);
    assert_eq!(f.features.count_short, 2, "a's history survived");
    // Much later in event time: every other account expires.
    let later = states.observe(at(1, 6), &tx("e", 100_000), WALL, &mut changes);
    assert_eq!(states.accounts(), 1);
    assert_eq!((later.expired, later.evicted_for_capacity), (3, 0));
}

#[test]
fn a_new_assignment_restores_from_the_changelog_and_replays_are_not_counted_twice() {
    let mut changes = Changes::default();
    let mut first = States::new(limits(10, 1_000_000));
    first.observe(at(1, 7), &tx("a", 1), WALL, &mut changes);
    let again = first.observe(at(1, 7), &tx("a", 1), WALL, &mut changes);
    assert_eq!(
        again.features.count_short, 0,
        "a replay sees only what came before it"
    );
    first.observe(at(1, 8), &tx("a", 2), WALL, &mut changes);

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
    let replayed = second.observe(at(1, 8), &tx("a", 2), WALL, &mut changes);
    assert_eq!(replayed.features.count_short, 1);
    let next = second.observe(at(1, 9), &tx("a", 3), WALL, &mut changes);
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
        let observed = states.observe(at, &tx(&account, i * 10), WALL, &mut changes);
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

#[test]
fn a_transaction_far_ahead_of_its_partition_neither_moves_the_clock_nor_expires_accounts() {
    // A partition replaying 2018 (a day's time to live) while the wall clock says 2026.
    let (day, wall) = (86_400_000, 1_796_000_000_000);
    let start = 1_522_540_800_000; // 2018-04-01
    let mut states = States::new(limits(100, day));
    let mut changes = Changes::default();
    for (i, account) in ["a", "b", "c"].iter().enumerate() {
        let i = i as i64;
        states.observe(
            at(1, i),
            &tx(account, start + i * 60_000),
            wall,
            &mut changes,
        );
    }
    // One record dated 2025: scored and remembered, the clock unmoved.
    let poisoned = states.observe(at(1, 3), &tx("x", 1_750_000_000_000), wall, &mut changes);
    assert!(poisoned.skewed);
    assert_eq!(poisoned.expired, 0);
    assert_eq!(states.accounts(), 4, "nothing expired");
    // The stream goes on, across a gap longer than the skew: nothing expires, and a's next
    // payment still sees its history.
    let next = states.observe(at(1, 4), &tx("a", start + 60 * 60_000), wall, &mut changes);
    assert!(next.skewed, "an hour past a clock five minutes wide");
    assert_eq!(next.expired, 0);
    assert_eq!(next.features.count_long, 1);
    let near = states.observe(at(1, 5), &tx("b", start + 4 * 60_000), wall, &mut changes);
    assert!(!near.skewed);
    assert_eq!(near.expired, 0);
    // A restore does not take the clock from the account dated 2025.
    let mut restored = States::new(limits(100, day));
    let stored = states.partitions[&0].accounts.clone();
    restored.install(0, 2, stored);
    let after = restored.observe(at(2, 6), &tx("c", start + 5 * 60_000), wall, &mut changes);
    assert_eq!(after.expired, 0, "{after:?}");
    // Live traffic (event time near the wall clock) moves the clock even after a long gap.
    let live = states.observe(at(1, 7), &tx("d", wall - 1_000), wall, &mut changes);
    assert!(!live.skewed);
    assert_eq!(
        live.expired, 4,
        "a, b, c and x are older than the clock now by a day"
    );
    // Extreme values neither panic nor overflow.
    for (offset, time) in [(8, i64::MAX), (9, i64::MIN), (10, 0)] {
        states.observe(at(1, offset), &tx("e", time), wall, &mut changes);
    }
}
