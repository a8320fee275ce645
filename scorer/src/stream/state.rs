//! Per-account state on a replica: for each input partition it holds, the history of every origin
//! account seen there (`aegis_core::account_state`), bounded by a maximum number of accounts per
//! partition (the least recently seen is evicted) and a time to live (an account not seen for that
//! long, in event time, is forgotten). Evictions are counted by reason.
//!
//! A partition's state belongs to one assignment of it: when the partition comes back under a new
//! assignment epoch (another replica may have scored its messages meanwhile), the state this
//! replica held is dropped and built again from what it reads. *Not yet backed by a changelog*:
//! a crash or a rebalance loses the history of the partitions involved.

use std::collections::{BTreeSet, HashMap};

use aegis_core::account_state::{AccountHistory, StateFeatures, StateParams};
use aegis_core::Transaction;

/// How much state a replica keeps.
#[derive(Clone, Copy, Debug)]
pub struct StateLimits {
    /// Windows and history per account.
    pub params: StateParams,
    /// Most accounts per partition.
    pub max_accounts: usize,
    /// Forget an account not seen for this long (event time, milliseconds).
    pub ttl_ms: i64,
}

/// Why an account's history was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// The partition held `max_accounts` already.
    Capacity,
    /// Not seen for the time to live.
    Expired,
}

impl Eviction {
    pub const ALL: [Eviction; 2] = [Eviction::Capacity, Eviction::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Eviction::Capacity => "capacity",
            Eviction::Expired => "expired",
        }
    }
}

#[derive(Default)]
struct Account {
    history: AccountHistory,
    last_seen_ms: i64,
}

/// One partition's accounts, with an index by last-seen time for eviction.
#[derive(Default)]
struct PartitionState {
    epoch: u64,
    accounts: HashMap<String, Account>,
    by_last_seen: BTreeSet<(i64, String)>,
    /// The latest event time seen: the partition's clock for the time to live.
    clock_ms: i64,
}

/// Every held partition's state.
pub struct States {
    limits: StateLimits,
    partitions: HashMap<i32, PartitionState>,
}

impl States {
    pub fn new(limits: StateLimits) -> States {
        States {
            limits,
            partitions: HashMap::new(),
        }
    }

    /// The state features of `tx`, read at `offset` of `partition` under assignment `epoch`, and
    /// the account's history updated; `evicted` is told of every account dropped meanwhile.
    pub fn observe(
        &mut self,
        partition: i32,
        epoch: u64,
        offset: i64,
        tx: &Transaction,
        mut evicted: impl FnMut(Eviction),
    ) -> StateFeatures {
        let limits = self.limits;
        let state = self.partitions.entry(partition).or_default();
        if state.epoch != epoch {
            *state = PartitionState {
                epoch,
                ..PartitionState::default()
            };
        }
        state.clock_ms = state.clock_ms.max(tx.event_time);
        // Expired accounts first, oldest first.
        while let Some((seen, account)) = state.by_last_seen.first().cloned() {
            if state.clock_ms - seen <= limits.ttl_ms {
                break;
            }
            state.by_last_seen.pop_first();
            state.accounts.remove(&account);
            evicted(Eviction::Expired);
        }
        let account = match state.accounts.get_mut(&tx.name_orig) {
            Some(account) => {
                state
                    .by_last_seen
                    .remove(&(account.last_seen_ms, tx.name_orig.clone()));
                account
            }
            None => {
                if state.accounts.len() >= limits.max_accounts.max(1) {
                    if let Some((_, oldest)) = state.by_last_seen.pop_first() {
                        state.accounts.remove(&oldest);
                        evicted(Eviction::Capacity);
                    }
                }
                state.accounts.entry(tx.name_orig.clone()).or_default()
            }
        };
        let features = account.history.observe(tx, offset, &limits.params);
        account.last_seen_ms = account.last_seen_ms.max(tx.event_time);
        state
            .by_last_seen
            .insert((account.last_seen_ms, tx.name_orig.clone()));
        features
    }

    /// Accounts held, over every partition.
    pub fn accounts(&self) -> usize {
        self.partitions.values().map(|p| p.accounts.len()).sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
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

    #[test]
    fn accounts_are_bounded_by_capacity_and_time_to_live() {
        let mut states = States::new(limits(3, 10_000));
        let mut evictions = Vec::new();
        for (i, account) in ["a", "b", "c", "a", "d"].iter().enumerate() {
            states.observe(0, 1, i as i64, &tx(account, i as i64), |e| {
                evictions.push(e)
            });
        }
        // "b" was the least recently seen when "d" arrived.
        assert_eq!(evictions, [Eviction::Capacity]);
        assert_eq!(states.accounts(), 3);
        let f = states.observe(0, 1, 5, &tx("a", 5), |e| evictions.push(e));
        assert_eq!(f.count_short, 2, "a's history survived");
        // Much later in event time: every other account expires.
        states.observe(0, 1, 6, &tx("e", 100_000), |e| evictions.push(e));
        assert_eq!(states.accounts(), 1);
        assert_eq!(evictions.len(), 4);
    }

    #[test]
    fn a_new_assignment_starts_afresh_and_replays_are_not_counted_twice() {
        let mut states = States::new(limits(10, 1_000_000));
        states.observe(2, 1, 7, &tx("a", 1), |_| {});
        let again = states.observe(2, 1, 7, &tx("a", 1), |_| {});
        assert_eq!(
            again.count_short, 0,
            "a replay sees only what came before it"
        );
        let next = states.observe(2, 1, 8, &tx("a", 2), |_| {});
        assert_eq!(next.count_short, 1);
        let reassigned = states.observe(2, 2, 9, &tx("a", 3), |_| {});
        assert_eq!(reassigned.count_short, 0);
    }
}
