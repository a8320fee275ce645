//! Which partitions a group member holds, and since when. Every assignment of a partition gets a
//! fresh epoch; work remembers the epoch it was read under, and its offset is stored only while
//! the partition is still held under that same epoch. So a revoked partition's unfinished work
//! never stores an offset: the partition's next owner reads it again (at least once, never lost).
//!
//! The consumer's context calls [`Assignment::assign`] and [`Assignment::revoke`] from librdkafka's
//! rebalance callbacks; the stream and the readiness checks read it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rdkafka::TopicPartitionList;

/// Epoch meaning "not held": work read under it never stores an offset.
pub const UNASSIGNED: u64 = 0;

/// The partitions held (by number) and their epochs.
#[derive(Default)]
pub struct Assignment {
    epochs: Mutex<HashMap<i32, u64>>,
    next_epoch: AtomicU64,
    rebalances: AtomicU64,
}

impl Assignment {
    /// The epoch under which `partition` is held now, or [`UNASSIGNED`].
    pub fn epoch(&self, partition: i32) -> u64 {
        self.lock().get(&partition).copied().unwrap_or(UNASSIGNED)
    }

    /// Whether `partition` is still held under `epoch`.
    pub fn holds(&self, partition: i32, epoch: u64) -> bool {
        epoch != UNASSIGNED && self.epoch(partition) == epoch
    }

    /// Partitions held now, sorted.
    pub fn partitions(&self) -> Vec<i32> {
        let mut p: Vec<i32> = self.lock().keys().copied().collect();
        p.sort_unstable();
        p
    }

    /// How many rebalances (assignments and revocations) this member has seen.
    pub fn rebalances(&self) -> u64 {
        self.rebalances.load(Ordering::Relaxed)
    }

    /// `partitions` are held from now on, each under a new epoch (cooperative rebalances list only
    /// the partitions that move; eager ones list them all).
    pub fn assign(&self, partitions: &[i32]) {
        let mut epochs = self.lock();
        for p in partitions {
            let epoch = self.next_epoch.fetch_add(1, Ordering::Relaxed) + 1;
            epochs.insert(*p, epoch);
        }
        self.rebalances.fetch_add(1, Ordering::Relaxed);
    }

    /// `partitions` are no longer held: work read from them never stores an offset again.
    pub fn revoke(&self, partitions: &[i32]) {
        let mut epochs = self.lock();
        for p in partitions {
            epochs.remove(p);
        }
        self.rebalances.fetch_add(1, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, u64>> {
        // A poisoned lock only means another thread panicked mid-update of a plain map.
        self.epochs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The partition numbers of `list`'s entries for `topic`.
pub fn partitions_of(list: &TopicPartitionList, topic: &str) -> Vec<i32> {
    list.elements()
        .iter()
        .filter(|e| e.topic() == topic)
        .map(|e| e.partition())
        .collect()
}

/// What a group member's context logs of a background commit: the offsets at debug level, a
/// failure as a warning (librdkafka commits stored offsets again at its next interval).
pub fn log_commit(result: rdkafka::error::KafkaResult<()>, offsets: &TopicPartitionList) {
    match result {
        Ok(()) => tracing::debug!(offsets = ?offsets, "offsets committed"),
        Err(e) => tracing::warn!(error = %e, "offset commit failed"),
    }
}

/// `list` as `topic[partition] …`, for logs.
pub fn describe(list: &TopicPartitionList) -> String {
    list.elements()
        .iter()
        .map(|e| format!("{}[{}]", e.topic(), e.partition()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_changes_keep_the_epochs_of_partitions_held_throughout() {
        let a = Assignment::default();
        a.assign(&[0, 1]);
        let (e0, e1) = (a.epoch(0), a.epoch(1));
        assert!(a.holds(0, e0) && a.holds(1, e1) && e0 != e1);

        // Cooperative: only the moved partitions are listed.
        a.assign(&[2]);
        a.revoke(&[1]);
        assert_eq!(a.partitions(), vec![0, 2]);
        assert!(a.holds(0, e0), "work on a kept partition still stores");
        assert!(!a.holds(1, e1), "work on a revoked one never does");

        // Given back later: a new epoch, so work from the first tenure stays unstored.
        a.assign(&[1]);
        assert!(!a.holds(1, e1));
        assert!(a.holds(1, a.epoch(1)));
        assert_eq!(a.rebalances(), 4);
    }

    #[test]
    fn eager_changes_revoke_everything_then_assign_everything() {
        let a = Assignment::default();
        a.assign(&[0, 1]);
        let e0 = a.epoch(0);
        a.revoke(&[0, 1]);
        assert!(a.partitions().is_empty());
        assert_eq!(a.epoch(0), UNASSIGNED);
        a.assign(&[0]);
        assert!(!a.holds(0, e0), "a new tenure, even of the same partition");
        assert!(!a.holds(5, UNASSIGNED));
    }

    #[test]
    fn partitions_are_picked_by_topic() {
        let mut list = TopicPartitionList::new();
        list.add_partition("verdicts", 3);
        list.add_partition("labels", 3);
        list.add_partition("verdicts", 1);
        assert_eq!(partitions_of(&list, "verdicts"), vec![3, 1]);
        assert_eq!(describe(&list), "verdicts[3] labels[3] verdicts[1]");
    }
}
