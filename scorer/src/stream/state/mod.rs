//! Per-account state on a replica: for each input partition it holds, the history of every origin
//! account seen there (`aegis_core::account_state`), bounded by a maximum number of accounts per
//! partition (the least recently seen is evicted) and a time to live (an account not seen for that
//! long, in event time, is forgotten).
//!
//! The truth is a compacted **changelog** topic ([`changelog`]). Every batch's changed accounts
//! are written there, and the batch's input offsets are stored only once those records are
//! acknowledged, like its verdicts. A partition's state belongs to one assignment of it: when a
//! partition is assigned (after a start, a crash, a rebalance) the consumer pauses it, the restore
//! stage reads it back from its changelog, then resumes it. Should a message of a new assignment
//! epoch reach the scoring first (one fetched before the pause took hold), that batch restores the
//! partition before it is scored. Both go through one path, [`StateStore::restore`], which reads
//! Kafka without holding the state lock, so other partitions are scored meanwhile. A message read
//! again after a crash gets the features it had and is not counted twice (see
//! `aegis_core::account_state`), so the restored state matches what was committed.
//!
//! - [`States`]: the accounts themselves, pure and synchronous (no Kafka, no lock);
//! - [`StateStore`]: the replica's `States` behind a lock, with the one restore path;
//! - [`changelog`]: the changelog's record type, and reading a partition of it back.

pub mod changelog;
mod store;

use std::collections::{BTreeSet, HashMap};

use aegis_core::account_state::{StateFeatures, StateParams};
use aegis_core::Transaction;

pub use changelog::{changelog_restore, ChangelogRecord, Changes, Restore, Stored};
pub use store::StateStore;

/// How much state a replica keeps.
#[derive(Clone, Copy, Debug)]
pub struct StateLimits {
    /// Windows and history per account.
    pub params: StateParams,
    /// Most accounts per partition.
    pub max_accounts: usize,
    /// Forget an account not seen for this long (event time, milliseconds).
    pub ttl_ms: i64,
    /// `--max-clock-skew`, milliseconds: a transaction further ahead of its partition's clock,
    /// and this far from the wall clock, neither moves the clock nor is remembered.
    pub max_skew_ms: i64,
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
    /// Both reasons, in metric order.
    pub const ALL: [Eviction; 2] = [Eviction::Capacity, Eviction::Expired];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Eviction::Capacity => "capacity",
            Eviction::Expired => "expired",
        }
    }
}

/// Where a transaction was read: its input partition, the assignment epoch it was received under,
/// and its offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    /// The input partition.
    pub partition: i32,
    /// The partition's assignment epoch when the message was received.
    pub epoch: u64,
    /// The message's offset.
    pub offset: i64,
}

/// What observing one transaction did: its state features, and the accounts it evicted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// What the account did before this transaction.
    pub features: StateFeatures,
    /// Accounts dropped for room.
    pub evicted_for_capacity: u32,
    /// Accounts dropped for not being seen within the time to live.
    pub expired: u32,
    /// The transaction was too far ahead of its partition's clock and of the wall clock: scored
    /// with its account's history as it was, but not remembered, and the clock did not move.
    pub skewed: bool,
}

/// A partition restored from its changelog: how many accounts, and how long the read took.
#[derive(Clone, Debug, PartialEq)]
pub struct Restored {
    /// The input partition.
    pub partition: i32,
    /// Accounts installed.
    pub accounts: usize,
    /// Seconds the changelog read took.
    pub seconds: f64,
}

/// One partition's accounts, with an index by last-seen time for eviction.
#[derive(Default)]
struct PartitionState {
    epoch: u64,
    accounts: HashMap<String, Stored>,
    by_last_seen: BTreeSet<(i64, String)>,
    /// The latest event time accepted: the partition's clock for the time to live (`None`
    /// before the first transaction). A restore starts it at the median of the accounts' last
    /// seen times, which a few accounts dated in the future cannot move.
    clock_ms: Option<i64>,
}

/// Every held partition's accounts.
pub struct States {
    limits: StateLimits,
    partitions: HashMap<i32, PartitionState>,
}

impl States {
    /// No partitions yet.
    pub fn new(limits: StateLimits) -> States {
        States {
            limits,
            partitions: HashMap::new(),
        }
    }

    /// Whether `partition` holds the state of assignment `epoch` (installed by a restore, or
    /// started empty by [`States::install`]).
    pub fn holds(&self, partition: i32, epoch: u64) -> bool {
        self.partitions
            .get(&partition)
            .is_some_and(|p| p.epoch == epoch)
    }

    /// Makes `accounts` the state of `partition` under assignment `epoch`, unless the partition
    /// already holds that epoch's state (another path restored it first). Whether it was
    /// installed.
    pub fn install(
        &mut self,
        partition: i32,
        epoch: u64,
        accounts: HashMap<String, Stored>,
    ) -> bool {
        if self.holds(partition, epoch) {
            return false;
        }
        let by_last_seen = accounts
            .iter()
            .map(|(account, stored)| (stored.last_seen_ms, account.clone()))
            .collect();
        let clock_ms = median(accounts.values().map(|s| s.last_seen_ms).collect());
        self.partitions.insert(
            partition,
            PartitionState {
                epoch,
                accounts,
                by_last_seen,
                clock_ms,
            },
        );
        true
    }

    /// The state features of `tx`, read at `at`, and its account's history updated; `changes`
    /// collects the changelog records (the account's new value, a tombstone per account evicted).
    /// The partition is the one installed for it, whatever the epoch (a message received before
    /// a rebalance may meet the next epoch's state: a replay of it is not counted twice); one not
    /// installed at all starts empty.
    ///
    /// Event time is checked against the partition's clock (the latest event time accepted) and
    /// `wall_ms`: a transaction more than `max_skew_ms` ahead of the clock and as far from the
    /// wall clock — one dated in the future while the partition replays the past, say — is
    /// scored and remembered in its account's history as any other, but does not move the
    /// clock: no such record can expire a partition's accounts. Live traffic (event time near the
    /// wall clock) always moves it, so a quiet partition catches up at its next transaction; a
    /// replay of the past whose partition falls silent for longer than the skew keeps its clock
    /// until transactions come near it again — accounts then expire late, never early, and
    /// `max_accounts` still bounds memory. (Transactions dated beyond the wall clock's skew never
    /// get here: they are dead letters.)
    pub fn observe(
        &mut self,
        at: At,
        tx: &Transaction,
        wall_ms: i64,
        changes: &mut Changes,
    ) -> Observed {
        let limits = self.limits;
        let state = self
            .partitions
            .entry(at.partition)
            .or_insert_with(|| PartitionState {
                epoch: at.epoch,
                ..PartitionState::default()
            });
        let mut observed = Observed::default();
        let ahead = state
            .clock_ms
            .is_some_and(|clock| tx.event_time > clock.saturating_add(limits.max_skew_ms));
        observed.skewed =
            ahead && tx.event_time.abs_diff(wall_ms) > limits.max_skew_ms.unsigned_abs();
        if !observed.skewed {
            state.clock_ms = Some(
                state
                    .clock_ms
                    .map_or(tx.event_time, |c| c.max(tx.event_time)),
            );
        }
        let clock = state.clock_ms.unwrap_or(tx.event_time);
        // Expired accounts first, oldest first.
        while let Some((seen, account)) = state.by_last_seen.first().cloned() {
            if clock.saturating_sub(seen) <= limits.ttl_ms {
                break;
            }
            state.by_last_seen.pop_first();
            state.accounts.remove(&account);
            changes.put(at.partition, &account, None);
            observed.expired += 1;
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
                        changes.put(at.partition, &oldest, None);
                        observed.evicted_for_capacity += 1;
                    }
                }
                state.accounts.entry(tx.name_orig.clone()).or_default()
            }
        };
        observed.features = account.history.observe(tx, at.offset, &limits.params);
        account.last_seen_ms = account.last_seen_ms.max(tx.event_time);
        state
            .by_last_seen
            .insert((account.last_seen_ms, tx.name_orig.clone()));
        changes.put(at.partition, &tx.name_orig, Some(account.clone()));
        observed
    }

    /// `account`'s remembered history, if a partition held here has it (an account's
    /// transactions all arrive on one partition, its key's).
    pub fn history(&self, account: &str) -> Option<&aegis_core::account_state::AccountHistory> {
        self.partitions
            .values()
            .find_map(|p| p.accounts.get(account))
            .map(|stored| &stored.history)
    }

    /// Accounts held, over every partition.
    pub fn accounts(&self) -> usize {
        self.partitions.values().map(|p| p.accounts.len()).sum()
    }

    /// The most transactions any held account remembers.
    pub fn longest_history(&self) -> usize {
        self.partitions
            .values()
            .flat_map(|p| p.accounts.values())
            .map(|a| a.history.recent.len())
            .max()
            .unwrap_or(0)
    }
}

/// The median of `times` (the lower of the two middle ones), `None` when there are none.
fn median(mut times: Vec<i64>) -> Option<i64> {
    if times.is_empty() {
        return None;
    }
    let middle = (times.len() - 1) / 2;
    Some(*times.select_nth_unstable(middle).1)
}

#[cfg(test)]
mod tests;
