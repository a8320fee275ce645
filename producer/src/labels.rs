//! Labels after a delay (`--label-delay`, `--label-share`): the ground truth of each labelled
//! transaction sent, published to the labels topic (key = origin account, as its transaction)
//! once the delay has passed, with a share withheld as in life.
//!
//! Which transactions keep their label is a function of `--seed` and the transaction id alone,
//! so a run can be checked against it and is the same whatever the timing. Labels are published
//! in the order their delays end (one delay for all, so in send order), at the first send after
//! they are due (at most one inter-transaction gap late) or, after the last transaction, as they
//! come due. On a stop request the labels still waiting are published at once (early), before
//! the final flush; a crash loses them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use aegis_core::Transaction;

/// The longest single sleep while waiting for the last labels: how late a stop request can be
/// noticed.
pub const MAX_SLEEP: Duration = Duration::from_millis(50);

/// What `--label-delay`, `--label-share` and `--seed` ask for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelPlan {
    /// How long after its transaction a label is published.
    pub delay: Duration,
    /// The share of labelled transactions whose label is published, in [0, 1].
    pub share: f64,
    /// Mixed into the choice of withheld labels.
    pub seed: u64,
}

impl LabelPlan {
    /// Whether the label of transaction `tx_id` is published (else withheld): true for a share
    /// `share` of ids, chosen by a hash of the seed and the id.
    pub fn publishes(&self, tx_id: &str) -> bool {
        unit_hash(self.seed, tx_id) < self.share
    }
}

/// A number in [0, 1) from the seed and the id: FNV-1a over the id's bytes, then SplitMix64's
/// finaliser, top 53 bits. The same on every platform and every run.
fn unit_hash(seed: u64, id: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A label waiting for its delay to end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingLabel {
    /// When it is due.
    pub due: Instant,
    /// The Kafka key: its transaction's (PaySim's origin account; a spec's key field).
    pub account: String,
    /// The transaction's id.
    pub tx_id: String,
    /// The label.
    pub is_fraud: bool,
    /// The transaction's event time, milliseconds since the Unix epoch (UTC): the label carries
    /// it, so a label later than the outcome service's join window still finds its verdict.
    pub event_time: i64,
}

/// Labels waiting for their delay, in the order they come due.
#[derive(Debug, Default)]
pub struct PendingLabels {
    queue: VecDeque<PendingLabel>,
}

/// What became of a transaction's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Labelled {
    /// It waits for its delay.
    Pending,
    /// The plan withholds it.
    Withheld,
    /// The transaction carries no label (live traffic).
    Unknown,
}

impl PendingLabels {
    /// Queues the label of `tx`, sent at `sent`, if it has one and the plan publishes it.
    pub fn push(&mut self, plan: &LabelPlan, tx: &Transaction, sent: Instant) -> Labelled {
        self.push_parts(
            plan,
            &tx.name_orig,
            &tx.tx_id,
            tx.is_fraud,
            tx.event_time,
            sent,
        )
    }

    /// Queues the label `is_fraud` of transaction `tx_id` keyed `key`, which happened at
    /// `event_time` and was sent at `sent`, if it is known and the plan publishes it (any spec's
    /// transaction: its key and id).
    pub fn push_parts(
        &mut self,
        plan: &LabelPlan,
        key: &str,
        tx_id: &str,
        is_fraud: Option<bool>,
        event_time: i64,
        sent: Instant,
    ) -> Labelled {
        let Some(is_fraud) = is_fraud else {
            return Labelled::Unknown;
        };
        if !plan.publishes(tx_id) {
            return Labelled::Withheld;
        }
        // One delay for all: the queue stays in due order.
        self.queue.push_back(PendingLabel {
            due: sent + plan.delay,
            account: key.to_owned(),
            tx_id: tx_id.to_owned(),
            is_fraud,
            event_time,
        });
        Labelled::Pending
    }

    /// The next label, if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<PendingLabel> {
        if self.queue.front().is_some_and(|l| l.due <= now) {
            self.queue.pop_front()
        } else {
            None
        }
    }

    /// The next label, due or not (for a stop request).
    pub fn pop(&mut self) -> Option<PendingLabel> {
        self.queue.pop_front()
    }

    /// When the next label is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|l| l.due)
    }

    /// Labels waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(share: f64) -> LabelPlan {
        LabelPlan {
            delay: Duration::from_secs(2),
            share,
            seed: 42,
        }
    }

    #[test]
    fn the_share_published_is_about_the_share_asked_and_fixed_by_seed_and_id() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("ps-1-C{i}-10.00")).collect();
        for share in [0.0, 0.25, 0.5, 0.9, 1.0] {
            let kept = ids.iter().filter(|id| plan(share).publishes(id)).count();
            let expected = share * ids.len() as f64;
            assert!((kept as f64 - expected).abs() <= 150.0, "{share}: {kept}");
        }
        assert_eq!(
            ids.iter().filter(|id| plan(1.0).publishes(id)).count(),
            10_000
        );
        assert_eq!(ids.iter().filter(|id| plan(0.0).publishes(id)).count(), 0);
        // Same seed, same choice; another seed, another one.
        let chosen = |seed| -> Vec<bool> {
            let p = LabelPlan { seed, ..plan(0.5) };
            ids.iter().map(|id| p.publishes(id)).collect()
        };
        assert_eq!(chosen(42), chosen(42));
        assert_ne!(chosen(42), chosen(43));
    }

    #[test]
    fn labels_come_due_after_the_delay_in_send_order() {
        let start = Instant::now();
        let mut pending = PendingLabels::default();
        let mut tx = Transaction::takeover_example();
        assert_eq!(pending.push(&plan(1.0), &tx, start), Labelled::Unknown);
        tx.is_fraud = Some(true);
        assert_eq!(pending.push(&plan(0.0), &tx, start), Labelled::Withheld);
        assert_eq!(pending.push(&plan(1.0), &tx, start), Labelled::Pending);
        tx.tx_id = "t-2".into();
        tx.is_fraud = Some(false);
        let later = start + Duration::from_secs(1);
        pending.push(&plan(1.0), &tx, later);
        assert_eq!(pending.len(), 2);
        assert_eq!(pending.pop_due(start + Duration::from_millis(1999)), None);
        let first = pending.pop_due(start + Duration::from_secs(2)).unwrap();
        assert_eq!((first.tx_id.as_str(), first.is_fraud), ("t-1", true));
        assert_eq!(first.account, tx.name_orig);
        assert_eq!(pending.pop_due(start + Duration::from_secs(2)), None);
        assert_eq!(pending.next_due(), Some(later + Duration::from_secs(2)));
        assert_eq!(pending.pop().unwrap().tx_id, "t-2", "a stop takes it early");
        assert!(pending.is_empty());
    }
}
