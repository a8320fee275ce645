//! Per-account state on a replica: for each input partition it holds, the history of every origin
//! account seen there (`aegis_core::account_state`), bounded by a maximum number of accounts per
//! partition (the least recently seen is evicted) and a time to live (an account not seen for that
//! long, in event time, is forgotten). Evictions are counted by reason.
//!
//! The truth is a compacted **changelog** topic (partition p of it holds the accounts of input
//! partition p; key = account, value = its history with the source offset of the latest
//! transaction it reflects, [`Stored`]; an evicted account is a tombstone). Every batch's changed
//! accounts are written there, and the batch's input offsets are stored only once those records
//! are acknowledged, like its verdicts. A partition's state belongs to one assignment of it: when a
//! partition is assigned (after a start, a crash, a rebalance) the consumer pauses it, the pipeline
//! restores it from its changelog off the scoring path, then resumes it ([`States::install`]). Should
//! a message of a new assignment epoch be scored before that (a message fetched before the pause
//! took hold), the partition is restored right then, before that message is scored. A message read
//! again after a crash gets the features it had and is not counted twice (see
//! `aegis_core::account_state`), so the restored state matches what was committed.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use aegis_core::account_state::{AccountHistory, StateFeatures, StateParams};
use aegis_core::Transaction;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::consumer::BaseConsumer;
use rdkafka::Message;
use serde::{Deserialize, Serialize};

use crate::config::ScorerConfig;

/// An account as the changelog carries it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub history: AccountHistory,
    /// When the account was last seen (event time, milliseconds).
    pub last_seen_ms: i64,
}

/// Reads a partition's accounts back from the changelog: the latest value of every key, without
/// the tombstoned ones.
pub type Restore = Arc<dyn Fn(i32) -> anyhow::Result<HashMap<String, Stored>> + Send + Sync>;

/// The changelog records a batch produces: per (partition, account), its new value, or `None`
/// for an account dropped (a tombstone).
pub type Changes = HashMap<(i32, String), Option<Stored>>;

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

/// One partition's accounts, with an index by last-seen time for eviction.
#[derive(Default)]
struct PartitionState {
    epoch: u64,
    accounts: HashMap<String, Stored>,
    by_last_seen: BTreeSet<(i64, String)>,
    /// The latest event time seen: the partition's clock for the time to live.
    clock_ms: i64,
}

/// Every held partition's state.
pub struct States {
    limits: StateLimits,
    partitions: HashMap<i32, PartitionState>,
    /// `None`: no changelog (`--state-changelog-topic ""`): a partition starts empty.
    restore: Option<Restore>,
}

/// A partition restored from its changelog: how many accounts, and how long it took.
pub struct Restored {
    pub partition: i32,
    pub accounts: usize,
    pub seconds: f64,
}

impl States {
    pub fn new(limits: StateLimits, restore: Option<Restore>) -> States {
        States {
            limits,
            partitions: HashMap::new(),
            restore,
        }
    }

    /// How partitions are restored (`None`: without a changelog they start empty).
    pub fn restore(&self) -> Option<Restore> {
        self.restore.clone()
    }

    /// Makes `accounts` (read from the changelog in `seconds`) the state of `partition` under
    /// assignment `epoch`, unless the partition already holds that epoch's state (a message of it
    /// was scored first and restored it). Returns what was installed.
    pub fn install(
        &mut self,
        partition: i32,
        epoch: u64,
        accounts: HashMap<String, Stored>,
        seconds: f64,
    ) -> Option<Restored> {
        let state = self.partitions.entry(partition).or_default();
        if state.epoch == epoch {
            return None;
        }
        let by_last_seen = accounts
            .iter()
            .map(|(account, stored)| (stored.last_seen_ms, account.clone()))
            .collect();
        let clock_ms = accounts.values().map(|s| s.last_seen_ms).max().unwrap_or(0);
        let restored = Restored {
            partition,
            accounts: accounts.len(),
            seconds,
        };
        *state = PartitionState {
            epoch,
            accounts,
            by_last_seen,
            clock_ms,
        };
        Some(restored)
    }

    /// The state features of `tx`, read at `offset` of `partition` under assignment `epoch`, and
    /// the account's history updated. A partition not yet restored for `epoch` is restored first
    /// (told to `restored`); `evicted` is told of every account dropped; `changes` collects the
    /// changelog records. Fails only when the changelog cannot be read: then nothing may be scored.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        partition: i32,
        epoch: u64,
        offset: i64,
        tx: &Transaction,
        changes: &mut Changes,
        mut evicted: impl FnMut(Eviction),
        mut restored: impl FnMut(Restored),
    ) -> anyhow::Result<StateFeatures> {
        let limits = self.limits;
        if self.partitions.get(&partition).map_or(0, |p| p.epoch) != epoch {
            let started = Instant::now();
            let accounts = match &self.restore {
                Some(restore) => restore(partition)?,
                None => HashMap::new(),
            };
            let seconds = started.elapsed().as_secs_f64();
            if let Some(done) = self.install(partition, epoch, accounts, seconds) {
                restored(done);
            }
        }
        let state = self.partitions.entry(partition).or_default();
        state.clock_ms = state.clock_ms.max(tx.event_time);
        // Expired accounts first, oldest first.
        while let Some((seen, account)) = state.by_last_seen.first().cloned() {
            if state.clock_ms - seen <= limits.ttl_ms {
                break;
            }
            state.by_last_seen.pop_first();
            state.accounts.remove(&account);
            changes.insert((partition, account), None);
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
                        changes.insert((partition, oldest), None);
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
        changes.insert((partition, tx.name_orig.clone()), Some(account.clone()));
        Ok(features)
    }

    /// Accounts held, over every partition.
    pub fn accounts(&self) -> usize {
        self.partitions.values().map(|p| p.accounts.len()).sum()
    }
}

/// Longest a partition's restore may take before the replica stops (and another takes over).
const RESTORE_LIMIT: Duration = Duration::from_secs(60);

/// Restoring from `config`'s changelog topic, with a consumer of its own (no group: partition p is
/// assigned by hand and read from the beginning to its end); `None` without a changelog.
pub fn changelog_restore(config: &ScorerConfig) -> Option<Restore> {
    if config.state_changelog_topic.is_empty() {
        return None;
    }
    let (brokers, properties, topic) = (
        config.brokers.clone(),
        config.kafka.properties(),
        config.state_changelog_topic.clone(),
    );
    Some(Arc::new(move |partition| {
        read_partition(&brokers, &properties, &topic, partition)
    }))
}

fn read_partition(
    brokers: &str,
    properties: &[aegis_kafka::Property],
    topic: &str,
    partition: i32,
) -> anyhow::Result<HashMap<String, Stored>> {
    let consumer: BaseConsumer = aegis_kafka::client_config(
        brokers,
        &[
            ("group.id", "aegis-scorer-state-restore"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
        ],
        properties,
    )
    .create()
    .context("cannot create the state restore consumer")?;
    let mut accounts = HashMap::new();
    aegis_kafka::read_to_end(
        &consumer,
        topic,
        partition,
        Instant::now() + RESTORE_LIMIT,
        |message| {
            let Some(key) = message.key() else {
                return;
            };
            let account = String::from_utf8_lossy(key).into_owned();
            match message.payload().map(serde_json::from_slice::<Stored>) {
                None => {
                    accounts.remove(&account);
                }
                Some(Ok(stored)) => {
                    accounts.insert(account, stored);
                }
                Some(Err(e)) => tracing::warn!(
                    topic, partition, offset = message.offset(), error = %e,
                    "skipped an unreadable account state"
                ),
            }
        },
    )
    .with_context(|| format!("cannot restore {topic}[{partition}] within {RESTORE_LIMIT:?}"))?;
    Ok(accounts)
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

    /// Observes `tx` at (partition 0, `epoch`, `offset`), recording evictions and changes.
    fn see(
        states: &mut States,
        epoch: u64,
        offset: i64,
        tx: &Transaction,
        evictions: &mut Vec<Eviction>,
        changes: &mut Changes,
    ) -> StateFeatures {
        states
            .observe(0, epoch, offset, tx, changes, |e| evictions.push(e), |_| {})
            .unwrap()
    }

    #[test]
    fn accounts_are_bounded_by_capacity_and_time_to_live() {
        let mut states = States::new(limits(3, 10_000), None);
        let (mut evictions, mut changes) = (Vec::new(), Changes::new());
        for (i, account) in ["a", "b", "c", "a", "d"].iter().enumerate() {
            let i = i as i64;
            see(
                &mut states,
                1,
                i,
                &tx(account, i),
                &mut evictions,
                &mut changes,
            );
        }
        // "b" was the least recently seen when "d" arrived: a tombstone in the changelog.
        assert_eq!(evictions, [Eviction::Capacity]);
        assert_eq!(changes[&(0, "b".to_owned())], None);
        assert_eq!(states.accounts(), 3);
        let f = see(&mut states, 1, 5, &tx("a", 5), &mut evictions, &mut changes);
        assert_eq!(f.count_short, 2, "a's history survived");
        // Much later in event time: every other account expires.
        see(
            &mut states,
            1,
            6,
            &tx("e", 100_000),
            &mut evictions,
            &mut changes,
        );
        assert_eq!(states.accounts(), 1);
        assert_eq!(evictions.len(), 4);
    }

    #[test]
    fn a_new_assignment_restores_from_the_changelog_and_replays_are_not_counted_twice() {
        let (mut evictions, mut changes) = (Vec::new(), Changes::new());
        let mut first = States::new(limits(10, 1_000_000), None);
        see(&mut first, 1, 7, &tx("a", 1), &mut evictions, &mut changes);
        let again = see(&mut first, 1, 7, &tx("a", 1), &mut evictions, &mut changes);
        assert_eq!(
            again.count_short, 0,
            "a replay sees only what came before it"
        );
        see(&mut first, 1, 8, &tx("a", 2), &mut evictions, &mut changes);

        // Another replica takes the partition: it restores what the changelog holds.
        let changelog: HashMap<String, Stored> = changes
            .into_iter()
            .filter_map(|((_, account), value)| value.map(|v| (account, v)))
            .collect();
        let mut second = States::new(
            limits(10, 1_000_000),
            Some(Arc::new(move |_| Ok(changelog.clone()))),
        );
        let mut changes = Changes::new();
        // Offset 8 is read again (its commit was lost): the same features as the first time.
        let replayed = see(&mut second, 1, 8, &tx("a", 2), &mut evictions, &mut changes);
        assert_eq!(replayed.count_short, 1);
        let next = see(&mut second, 1, 9, &tx("a", 3), &mut evictions, &mut changes);
        assert_eq!(next.count_short, 2, "each transaction counted once");
    }

    #[test]
    fn memory_stays_bounded_over_a_million_transactions() {
        // 1,000,000 transactions over 200,000 accounts on 4 partitions, at most 10,000 accounts
        // per partition and 32 transactions per account.
        let mut states = States::new(limits(10_000, 3_600_000), None);
        let (mut evicted, mut changes) = (0u64, Changes::new());
        let mut most = 0;
        for i in 0..1_000_000i64 {
            let account = format!("C{}", i * 7_919 % 200_000);
            let partition = (i % 4) as i32;
            states
                .observe(
                    partition,
                    1,
                    i,
                    &tx(&account, i * 10),
                    &mut changes,
                    |_| evicted += 1,
                    |_| {},
                )
                .unwrap();
            if i % 10_000 == 0 {
                changes.clear();
                most = most.max(states.accounts());
            }
        }
        assert!(
            states.accounts() <= 40_000 && most <= 40_000,
            "{}",
            states.accounts()
        );
        assert!(evicted > 100_000, "evictions counted: {evicted}");
        let longest = states
            .partitions
            .values()
            .flat_map(|p| p.accounts.values())
            .map(|a| a.history.recent.len())
            .max()
            .unwrap();
        assert!(longest <= StateParams::default().max_recent);
    }
}
