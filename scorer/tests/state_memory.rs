//! Heap bytes a replica holds per account, counted by a global allocator (its own test binary, so
//! that nothing else allocates meanwhile). What the operator sizes memory by: the state of
//! `--state-max-accounts` accounts per partition costs about that many times this.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use aegis_core::account_state::StateParams;
use aegis_core::{Transaction, TxType};
use aegis_scorer::stream::state::{At, Changes, StateLimits, States};
use cap::Cap;

/// The system allocator, counting the bytes live (as requested, without the allocator's own
/// overhead).
#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

fn live() -> isize {
    ALLOCATOR.allocated() as isize
}

/// PaySim-like names: a letter and nine or ten digits.
fn payment(account: u64, dest: u64, time_ms: i64) -> Transaction {
    let mut tx = Transaction::takeover_example();
    tx.name_orig = format!("C{}", 1_000_000_000 + account);
    tx.name_dest = format!("M{}", 1_000_000_000 + dest);
    tx.tx_type = TxType::Payment;
    tx.amount = 9.5;
    tx.event_time = time_ms;
    tx
}

/// Heap bytes per account once `accounts` accounts have made `per_account` transactions each, on
/// four partitions.
fn bytes_per_account(accounts: u64, per_account: u64) -> f64 {
    let limits = StateLimits {
        params: StateParams::default(),
        max_accounts: 1_000_000,
        ttl_ms: i64::MAX / 2,
        max_skew_ms: 300_000,
    };
    let mut states = States::new(limits);
    // The transactions are made before counting starts.
    let txs: Vec<(i32, Transaction)> = (0..per_account)
        .flat_map(|round| {
            (0..accounts).map(move |a| ((a % 4) as i32, payment(a, a + round, round as i64)))
        })
        .collect();
    let before = live();
    for (offset, (partition, tx)) in txs.iter().enumerate() {
        // A batch's changelog records live only until they are sent.
        let mut changes = Changes::default();
        let at = At {
            partition: *partition,
            epoch: 1,
            offset: offset as i64,
        };
        states.observe(at, tx, tx.event_time, &mut changes);
    }
    let held = live() - before;
    assert_eq!(states.accounts() as u64, accounts);
    drop(txs);
    held as f64 / accounts as f64
}

#[test]
fn an_account_costs_a_few_hundred_bytes() {
    // Most PaySim accounts transact once; a busy one keeps up to `max_recent` transactions.
    let once = bytes_per_account(100_000, 1);
    let four_times = bytes_per_account(25_000, 4);
    println!("heap bytes per account: {once:.0} (one transaction), {four_times:.0} (four)");
    assert!(
        once < 300.0,
        "{once:.0} bytes per account of one transaction"
    );
    assert!(
        four_times < 600.0,
        "{four_times:.0} bytes per account of four"
    );
}
