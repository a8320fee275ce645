//! The replica's account states behind one lock, and the one path that restores a partition:
//! read its changelog **without** the lock (seconds, on a big partition), then install the result
//! under it (microseconds). So a restore stalls no other partition's scoring: a batch waits for
//! the lock at most while another batch observes its transactions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use aegis_core::account_state::{Recent, StateFeatures, StateParams};
use aegis_core::Transaction;

use super::{At, Changes, Eviction, Restore, Restored, StateLimits, States};
use crate::metrics::Metrics;

/// The replica's [`States`], how to restore a partition, and the metrics they report to.
pub struct StateStore {
    states: Mutex<States>,
    params: StateParams,
    /// `None`: no changelog (`--state-changelog-topic ""`): a partition starts empty.
    restore: Option<Restore>,
    metrics: Arc<Metrics>,
}

impl StateStore {
    /// No partitions yet.
    pub fn new(limits: StateLimits, restore: Option<Restore>, metrics: Arc<Metrics>) -> StateStore {
        StateStore {
            states: Mutex::new(States::new(limits)),
            params: limits.params,
            restore,
            metrics,
        }
    }

    /// The windows and history every account keeps.
    pub fn params(&self) -> &StateParams {
        &self.params
    }

    /// Each of `accounts`' remembered transactions, oldest first (one lock for all): `None` for
    /// an account this replica holds no history of.
    pub fn histories<'a>(
        &self,
        accounts: impl IntoIterator<Item = &'a str>,
    ) -> Vec<Option<Vec<Recent>>> {
        let states = self.lock();
        accounts
            .into_iter()
            .map(|account| {
                states
                    .history(account)
                    .map(|h| h.recent.iter().cloned().collect())
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, States> {
        // A poisoned lock only means another thread panicked mid-batch; the next new epoch
        // restores from the changelog anyway.
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Restores `partition`'s accounts for assignment `epoch` from the changelog (empty without
    /// one), unless it already holds that epoch's state. The changelog is read without the lock;
    /// the result is installed only while `still_held()` (a partition revoked meanwhile belongs
    /// to its next owner) and if no other path installed that epoch first. Fails only when the
    /// changelog cannot be read.
    pub fn restore(
        &self,
        partition: i32,
        epoch: u64,
        still_held: impl Fn() -> bool,
    ) -> anyhow::Result<Option<Restored>> {
        if self.lock().holds(partition, epoch) {
            return Ok(None);
        }
        let started = Instant::now();
        let accounts = match &self.restore {
            Some(read) => read(partition)?,
            None => HashMap::new(),
        };
        let restored = Restored {
            partition,
            accounts: accounts.len(),
            seconds: started.elapsed().as_secs_f64(),
        };
        let mut states = self.lock();
        if !still_held() || !states.install(partition, epoch, accounts) {
            return Ok(None);
        }
        self.metrics.state_accounts(states.accounts());
        drop(states);
        self.metrics.state_restored(&restored);
        Ok(Some(restored))
    }

    /// Restores, before a batch is scored, each of its (partition, epoch) pairs that is not
    /// installed yet: messages fetched before the consumer paused a newly assigned partition.
    pub fn restore_missing(
        &self,
        wanted: impl IntoIterator<Item = (i32, u64)>,
    ) -> anyhow::Result<()> {
        let mut missing: Vec<(i32, u64)> = {
            let states = self.lock();
            wanted
                .into_iter()
                .filter(|&(partition, epoch)| !states.holds(partition, epoch))
                .collect()
        };
        missing.sort_unstable();
        missing.dedup();
        for (partition, epoch) in missing {
            self.restore(partition, epoch, || true)?;
        }
        Ok(())
    }

    /// Each transaction's state features, in order, with its account updated (one lock for the
    /// whole batch; `wall_ms` is the wall clock, for the event-time check of [`States::observe`]); `changes` collects the changelog records, and evictions are counted.
    pub fn observe<'a>(
        &self,
        batch: impl IntoIterator<Item = (At, &'a Transaction)>,
        wall_ms: i64,
        changes: &mut Changes,
    ) -> Vec<StateFeatures> {
        let mut states = self.lock();
        let (mut capacity, mut expired, mut skewed) = (0, 0, 0);
        let features = batch
            .into_iter()
            .map(|(at, tx)| {
                let observed = states.observe(at, tx, wall_ms, changes);
                capacity += observed.evicted_for_capacity;
                expired += observed.expired;
                skewed += u64::from(observed.skewed);
                observed.features
            })
            .collect();
        self.metrics.event_time_skewed(skewed);
        let accounts = states.accounts();
        drop(states);
        self.metrics.state_evicted(Eviction::Capacity, capacity);
        self.metrics.state_evicted(Eviction::Expired, expired);
        self.metrics.state_accounts(accounts);
        features
    }
}
