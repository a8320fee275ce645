//! The review queue: REVIEW verdicts waiting for an analyst to mark them fraud or legit, newest
//! first, in memory and bounded. A verdict leaves the queue when it is marked, or as the oldest
//! once [`MAX_QUEUE`] newer ones wait; one marked is not queued again when the verdict comes back
//! (at-least-once delivery repeats verdicts), as long as it is among the last [`MAX_MARKED`] marked.

use std::collections::{HashSet, VecDeque};

use aegis_core::{Decision, Verdict};

/// REVIEW verdicts kept waiting; past it, the oldest leaves the queue unmarked.
pub const MAX_QUEUE: usize = 200;
/// Marked transactions remembered, so that a repeated verdict is not queued again.
pub const MAX_MARKED: usize = 10_000;

/// REVIEW verdicts not yet marked.
#[derive(Default)]
pub struct ReviewQueue {
    /// Newest first.
    waiting: VecDeque<Verdict>,
    /// The ids of the last [`MAX_MARKED`] marked (or being marked), oldest first, and as a set.
    marked: VecDeque<String>,
    marked_ids: HashSet<String>,
}

impl ReviewQueue {
    /// Queues `verdict` if it is a REVIEW neither waiting nor marked already.
    pub fn offer(&mut self, verdict: &Verdict) {
        if verdict.decision != Decision::Review
            || self.marked_ids.contains(&verdict.tx_id)
            || self.waiting.iter().any(|v| v.tx_id == verdict.tx_id)
        {
            return;
        }
        if self.waiting.len() == MAX_QUEUE {
            self.waiting.pop_back();
        }
        self.waiting.push_front(verdict.clone());
    }

    /// The verdicts waiting, newest first.
    pub fn waiting(&self) -> impl Iterator<Item = &Verdict> {
        self.waiting.iter()
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Takes `tx_id` out of the queue to be marked: `None` when it is not waiting (unknown, or
    /// marked already). From then on it counts as marked; [`ReviewQueue::put_back`] undoes that
    /// when its label could not be written.
    pub fn take(&mut self, tx_id: &str) -> Option<Verdict> {
        let at = self.waiting.iter().position(|v| v.tx_id == tx_id)?;
        let verdict = self.waiting.remove(at)?;
        if self.marked.len() == MAX_MARKED {
            if let Some(oldest) = self.marked.pop_front() {
                self.marked_ids.remove(&oldest);
            }
        }
        self.marked.push_back(verdict.tx_id.clone());
        self.marked_ids.insert(verdict.tx_id.clone());
        Some(verdict)
    }

    /// Returns a verdict [`ReviewQueue::take`] took whose label was not written, in its place by
    /// scoring time.
    pub fn put_back(&mut self, verdict: Verdict) {
        if self.marked_ids.remove(&verdict.tx_id) {
            self.marked.retain(|id| *id != verdict.tx_id);
        }
        let at = self
            .waiting
            .iter()
            .position(|v| v.scored_at <= verdict.scored_at)
            .unwrap_or(self.waiting.len());
        self.waiting.insert(at, verdict);
        self.waiting.truncate(MAX_QUEUE);
    }
}

#[cfg(test)]
mod tests {
    use aegis_core::TxType;

    use super::*;

    fn verdict(i: i64, decision: Decision) -> Verdict {
        Verdict {
            tx_id: format!("t{i}"),
            account: "C1".into(),
            amount: 10.0,
            tx_type: TxType::Transfer,
            event_time: i,
            fraud_probability: 0.5,
            decision,
            reasons: Vec::new(),
            model_version: "rf-1".into(),
            scored_at: i,
            rules: Vec::new(),
            features: Vec::new(),
            explanation: None,
        }
    }

    fn ids(queue: &ReviewQueue) -> Vec<String> {
        queue.waiting().map(|v| v.tx_id.clone()).collect()
    }

    #[test]
    fn only_reviews_wait_newest_first_and_bounded() {
        let mut queue = ReviewQueue::default();
        queue.offer(&verdict(0, Decision::Allow));
        queue.offer(&verdict(1, Decision::Block));
        for i in 2..(MAX_QUEUE as i64 + 12) {
            queue.offer(&verdict(i, Decision::Review));
        }
        queue.offer(&verdict(20, Decision::Review)); // a repeat: still waiting
        assert_eq!(queue.len(), MAX_QUEUE);
        assert_eq!(ids(&queue)[0], format!("t{}", MAX_QUEUE + 11));
        assert_eq!(ids(&queue).last().unwrap(), "t12", "the oldest left");
    }

    #[test]
    fn a_marked_verdict_leaves_and_does_not_come_back_unless_put_back() {
        let mut queue = ReviewQueue::default();
        for i in 0..3 {
            queue.offer(&verdict(i, Decision::Review));
        }
        let taken = queue.take("t1").unwrap();
        assert!(queue.take("t1").is_none(), "marked already");
        assert!(queue.take("nope").is_none(), "unknown");
        queue.offer(&taken); // the verdict read again
        assert_eq!(ids(&queue), ["t2", "t0"]);
        queue.put_back(taken);
        assert_eq!(ids(&queue), ["t2", "t1", "t0"], "back in its place");
        assert!(queue.take("t1").is_some());
    }
}
