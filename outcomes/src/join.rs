//! The join of verdicts with labels by `tx_id`, bounded in time (`--join-window`) and in size
//! (`--max-pending`): pure logic, no Kafka. Whatever waits longer than the window, or is the
//! oldest when the pending entries exceed the limit, is evicted and reported, so its source offset
//! can be released.
//!
//! Entries are keyed by (partition, tx_id): verdicts and labels are co-partitioned, so a partition
//! taken away drops only its own entries ([`JoinWindow::drop_partition`]).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aegis_core::{Label, Verdict};

/// Which input a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The verdicts topic.
    Verdict,
    /// The labels topic.
    Label,
}

impl Side {
    /// Both sides, in metric order.
    pub const ALL: [Side; 2] = [Side::Verdict, Side::Label];

    /// The metric label value: `verdict` or `label`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Verdict => "verdict",
            Side::Label => "label",
        }
    }

    fn index(self) -> usize {
        match self {
            Side::Verdict => 0,
            Side::Label => 1,
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Verdict => Side::Label,
            Side::Label => Side::Verdict,
        }
    }
}

/// Where a message was read: its side, partition and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    /// The input it came from.
    pub side: Side,
    /// Its partition (the same number on both inputs: they are co-partitioned).
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
}

/// A message waiting for its counterpart.
#[derive(Clone, Debug, PartialEq)]
pub enum Held {
    /// A verdict waiting for its label.
    Verdict(Verdict),
    /// A label waiting for its verdict.
    Label(Label),
}

impl Held {
    /// The side it came from.
    pub fn side(&self) -> Side {
        match self {
            Held::Verdict(_) => Side::Verdict,
            Held::Label(_) => Side::Label,
        }
    }

    fn tx_id(&self) -> &str {
        match self {
            Held::Verdict(v) => &v.tx_id,
            Held::Label(l) => &l.tx_id,
        }
    }
}

/// Why an entry was evicted (the `reason` label of the evictions metric).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictionReason {
    /// It waited longer than `--join-window`.
    Window,
    /// It was the oldest when the pending entries exceeded `--max-pending`.
    Capacity,
}

impl EvictionReason {
    /// Both reasons, in metric order.
    pub const ALL: [EvictionReason; 2] = [EvictionReason::Window, EvictionReason::Capacity];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionReason::Window => "window",
            EvictionReason::Capacity => "capacity",
        }
    }
}

/// An entry given up on: its source is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Eviction {
    /// Where the evicted message was read.
    pub source: Source,
    /// Why.
    pub reason: EvictionReason,
}

/// A verdict and its label, met.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    /// The verdict.
    pub verdict: Verdict,
    /// Its label.
    pub label: Label,
    /// Where each was read, verdict first.
    pub sources: [Source; 2],
}

/// What offering one message did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Offered {
    /// Its counterpart was waiting: the two are joined (and no longer pending).
    pub matched: Option<Match>,
    /// An earlier message of the same side and tx_id (a replayed duplicate) that this one
    /// replaced: released.
    pub replaced: Option<Source>,
    /// Entries evicted to stay within `--max-pending`.
    pub evicted: Vec<Eviction>,
}

struct Entry {
    held: Held,
    offset: i64,
    seq: u64,
    arrived: Instant,
}

type Key = (i32, String);

/// Verdicts and labels waiting for each other.
pub struct JoinWindow {
    window: Duration,
    max_pending: usize,
    pending: [HashMap<Key, Entry>; 2],
    /// Arrival order: sequence number → (side, key).
    by_age: BTreeMap<u64, (Side, Key)>,
    next_seq: u64,
}

impl JoinWindow {
    /// An empty join: entries wait at most `window`, and at most `max_pending` (at least 1) wait
    /// at once.
    pub fn new(window: Duration, max_pending: usize) -> Self {
        JoinWindow {
            window,
            max_pending: max_pending.max(1),
            pending: [HashMap::new(), HashMap::new()],
            by_age: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Offers a message read at `partition`/`offset`, arrived at `now`: joined with its waiting
    /// counterpart, or left waiting.
    pub fn offer(&mut self, partition: i32, offset: i64, held: Held, now: Instant) -> Offered {
        let side = held.side();
        let key = (partition, held.tx_id().to_owned());
        let mut offered = Offered::default();
        if let Some(other) = self.pending[side.other().index()].remove(&key) {
            self.by_age.remove(&other.seq);
            let this = Source {
                side,
                partition,
                offset,
            };
            let that = Source {
                side: side.other(),
                partition,
                offset: other.offset,
            };
            offered.matched = Some(match (held, other.held) {
                (Held::Verdict(verdict), Held::Label(label)) => Match {
                    verdict,
                    label,
                    sources: [this, that],
                },
                (Held::Label(label), Held::Verdict(verdict)) => Match {
                    verdict,
                    label,
                    sources: [that, this],
                },
                _ => unreachable!("the other side holds the other kind"),
            });
            return offered;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry {
            held,
            offset,
            seq,
            arrived: now,
        };
        if let Some(old) = self.pending[side.index()].insert(key.clone(), entry) {
            self.by_age.remove(&old.seq);
            offered.replaced = Some(Source {
                side,
                partition,
                offset: old.offset,
            });
        }
        self.by_age.insert(seq, (side, key));
        while self.len() > self.max_pending {
            match self.evict_oldest(EvictionReason::Capacity) {
                Some(eviction) => offered.evicted.push(eviction),
                None => break,
            }
        }
        offered
    }

    /// Evicts every entry that arrived more than the window before `now`.
    pub fn evict_expired(&mut self, now: Instant) -> Vec<Eviction> {
        let mut evicted = Vec::new();
        while let Some((_, (side, key))) = self.by_age.first_key_value() {
            let expired = self.pending[side.index()]
                .get(key)
                .is_none_or(|e| now.saturating_duration_since(e.arrived) > self.window);
            if !expired {
                break;
            }
            match self.evict_oldest(EvictionReason::Window) {
                Some(eviction) => evicted.push(eviction),
                None => break,
            }
        }
        evicted
    }

    fn evict_oldest(&mut self, reason: EvictionReason) -> Option<Eviction> {
        let (_, (side, key)) = self.by_age.pop_first()?;
        let entry = self.pending[side.index()].remove(&key)?;
        Some(Eviction {
            source: Source {
                side,
                partition: key.0,
                offset: entry.offset,
            },
            reason,
        })
    }

    /// Drops every entry of `partition` (taken away by a rebalance: its next owner reads them
    /// again from the committed offset). Returns how many were dropped.
    pub fn drop_partition(&mut self, partition: i32) -> usize {
        let before = self.len();
        for map in &mut self.pending {
            map.retain(|(p, _), _| *p != partition);
        }
        let pending = &self.pending;
        self.by_age
            .retain(|_, (side, key)| pending[side.index()].contains_key(key));
        before - self.len()
    }

    /// Entries of `side` waiting.
    pub fn pending(&self, side: Side) -> usize {
        self.pending[side.index()].len()
    }

    /// All entries waiting.
    pub fn len(&self) -> usize {
        self.pending[0].len() + self.pending[1].len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
