//! Putting records that arrive from several sources back into one event-time order: what a stage
//! keyed by an entity other than the topic's key needs (docs/streaming-features.md). Each source
//! (a partition of the stage before) sends its records in event-time order, and says how far it
//! has got — its *watermark*: every record of it at or before that time has been sent. A record is
//! released once every source's watermark has reached its time, earliest first, so the stage sees
//! exactly the order the trainer computes features in, whatever the interleaving on the way.
//!
//! Records of equal time are released by their `key` (then in arrival order): callers give a key
//! that puts them in the trainer's order — a label before the transactions it counts for, and
//! transactions by id.
//!
//! Memory: the records waiting are those newer than the slowest source's watermark — the skew
//! between sources times the rate. A source that stops advancing holds everything back; that is
//! the price of exactness, and why sources send watermarks even when they have no records.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Records from `sources` sources, released in event-time order.
pub struct EventTimeMerge<K: Ord, T> {
    /// Each source's watermark (`None`: not heard from yet).
    watermarks: Vec<Option<i64>>,
    /// Sources that said they have nothing more for now ([`EventTimeMerge::idle`]): not waited
    /// for until they send again.
    idle: Vec<bool>,
    /// The latest time released so far: a record pushed at or before it is late.
    released: i64,
    waiting: BinaryHeap<Reverse<Waiting<K, T>>>,
    /// Records pushed so far: the last tie-break, arrival order.
    pushed: u64,
}

struct Waiting<K, T> {
    time: i64,
    key: K,
    arrival: u64,
    item: T,
}

impl<K: Ord, T> Ord for Waiting<K, T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.time, &self.key, self.arrival).cmp(&(other.time, &other.key, other.arrival))
    }
}

impl<K: Ord, T> PartialOrd for Waiting<K, T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K: Ord, T> PartialEq for Waiting<K, T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<K: Ord, T> Eq for Waiting<K, T> {}

impl<K: Ord, T> EventTimeMerge<K, T> {
    /// A merge of `sources` sources, none heard from yet.
    pub fn new(sources: usize) -> Self {
        EventTimeMerge {
            watermarks: vec![None; sources],
            idle: vec![false; sources],
            released: i64::MIN,
            waiting: BinaryHeap::new(),
            pushed: 0,
        }
    }

    /// A record at `time`, ordered among records of equal time by `key`. `false` when it is late:
    /// a record after it in event-time order was released already (it is still released, first).
    pub fn push(&mut self, time: i64, key: K, item: T) -> bool {
        self.pushed += 1;
        let on_time = time > self.released;
        self.waiting.push(Reverse(Waiting {
            time,
            key,
            arrival: self.pushed,
            item,
        }));
        on_time
    }

    /// Source `source` sends again after being idle: it is waited for from its last watermark.
    pub fn heard(&mut self, source: usize) {
        if let Some(idle) = self.idle.get_mut(source) {
            *idle = false;
        }
    }

    /// Source `source`, caught up, has nothing more for now: records are released without
    /// waiting for it until it sends again ([`EventTimeMerge::heard`], or a watermark). Whatever
    /// it sends later that is older than what was released meanwhile is late.
    pub fn idle(&mut self, source: usize) {
        if let Some(idle) = self.idle.get_mut(source) {
            *idle = true;
        }
    }

    /// Source `source` has sent every record at or before `watermark` (a watermark never goes
    /// back: an older one is ignored, as a replayed one after a restart would be).
    pub fn advance(&mut self, source: usize, watermark: i64) {
        self.heard(source);
        if let Some(w) = self.watermarks.get_mut(source) {
            *w = Some(w.map_or(watermark, |old| old.max(watermark)));
        }
    }

    /// How far every source has got: the smallest watermark of the sources not idle (`None`
    /// until all are heard from; every time when all are idle).
    pub fn watermark(&self) -> Option<i64> {
        self.watermarks
            .iter()
            .zip(&self.idle)
            .filter(|(_, idle)| !**idle)
            .try_fold(i64::MAX, |low, (w, _)| w.map(|w| low.min(w)))
    }

    /// The earliest waiting record, if every source has got to its time.
    pub fn pop(&mut self) -> Option<T> {
        let ready = self.watermark()?;
        if self.waiting.peek()?.0.time > ready {
            return None;
        }
        self.waiting.pop().map(|Reverse(w)| {
            self.released = self.released.max(w.time);
            w.item
        })
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_in_time_then_key_order_once_every_source_has_got_there() {
        let mut merge = EventTimeMerge::new(2);
        merge.push(20, 1, "b at 20");
        merge.push(10, 2, "a at 10, key 2");
        merge.advance(0, 30);
        assert_eq!(merge.pop(), None, "source 1 not heard from");
        merge.push(10, 1, "c at 10, key 1");
        merge.advance(1, 15);
        assert_eq!(merge.pop(), Some("c at 10, key 1"));
        assert_eq!(merge.pop(), Some("a at 10, key 2"));
        assert_eq!(merge.pop(), None, "20 is past source 1's watermark");
        merge.advance(1, 5);
        assert_eq!(merge.watermark(), Some(15), "a watermark never goes back");
        merge.advance(1, i64::MAX);
        assert_eq!(merge.pop(), Some("b at 20"));
        assert!(merge.is_empty());
    }

    #[test]
    fn an_idle_source_is_not_waited_for_until_it_sends_again() {
        let mut merge = EventTimeMerge::new(2);
        merge.advance(0, 100);
        assert!(merge.push(50, 0, "a at 50"));
        assert_eq!(merge.pop(), None, "source 1 not heard from");
        merge.idle(1);
        assert_eq!(merge.pop(), Some("a at 50"));
        assert!(merge.push(120, 0, "b at 120"));
        assert_eq!(merge.pop(), None, "past source 0's watermark");
        merge.idle(0);
        assert_eq!(merge.watermark(), Some(i64::MAX), "every source idle");
        assert_eq!(merge.pop(), Some("b at 120"));
        // Source 1 wakes up with a record older than what was released: late, released first.
        merge.heard(1);
        assert!(!merge.push(60, 0, "c at 60"), "late");
        assert_eq!(merge.pop(), None, "source 1 has no watermark yet");
        merge.advance(1, 70);
        assert_eq!(merge.pop(), Some("c at 60"));
    }
}
