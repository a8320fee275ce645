//! The join of verdicts with labels by `tx_id`, bounded in time (`--join-window`) and in size
//! (`--max-pending`): pure logic, no Kafka. Whatever waits longer than the window, or is the
//! oldest when the pending entries exceed the limit, is evicted and reported, so its source offset
//! can be released.
//!
//! One [`JoinWindow`] per [`Role`]: the live model's verdicts meet the labels in one, the shadow
//! model's (`verdicts.shadow`) meet the same labels in another, so every label is offered to both
//! and each window holds it until its own verdict comes or the window gives up on it.
//!
//! Entries are keyed by (partition, tx_id): verdicts, shadow verdicts and labels are
//! co-partitioned, so a partition taken away drops only its own entries
//! ([`JoinWindow::drop_partition`]).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aegis_core::{Label, Verdict};

/// Which input a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The verdicts topic (the live model's).
    Verdict,
    /// The labels topic.
    Label,
    /// The shadow verdicts topic (the shadow model's; only measured).
    ShadowVerdict,
}

impl Side {
    /// Every side, in metric order.
    pub const ALL: [Side; 3] = [Side::Verdict, Side::Label, Side::ShadowVerdict];

    /// The metric label value: `verdict`, `label` or `shadow_verdict`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Verdict => "verdict",
            Side::Label => "label",
            Side::ShadowVerdict => "shadow_verdict",
        }
    }

    /// Its slot in a window: verdicts (of either model) 0, labels 1.
    fn slot(self) -> usize {
        match self {
            Side::Verdict | Side::ShadowVerdict => 0,
            Side::Label => 1,
        }
    }
}

/// Whose verdicts a join pairs with the labels (the `role` label of the metrics): the live
/// model's, acted on and written as outcomes, or the shadow's, only measured.
pub use aegis_core::Role;

impl Side {
    /// The input `role`'s verdicts come from.
    pub fn verdicts_of(role: Role) -> Side {
        match role {
            Role::Live => Side::Verdict,
            Role::Shadow => Side::ShadowVerdict,
        }
    }

    /// The two inputs `role`'s join pairs: its verdicts, then the labels.
    pub fn joined_by(role: Role) -> [Side; 2] {
        [Side::verdicts_of(role), Side::Label]
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
    /// Its slot in a window: verdicts 0, labels 1.
    fn slot(&self) -> usize {
        match self {
            Held::Verdict(_) => 0,
            Held::Label(_) => 1,
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

/// An entry given up on: its source is released (by this window).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eviction {
    /// The window that gave up on it.
    pub role: Role,
    /// Where the evicted message was read.
    pub source: Source,
    /// Why.
    pub reason: EvictionReason,
    /// The label, when a label was evicted: the live window's may still meet its verdict in the
    /// verdicts topic ([`crate::late`]).
    pub label: Option<Label>,
}

/// A verdict and its label, met.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    /// Whose verdict it is.
    pub role: Role,
    /// The verdict.
    pub verdict: Verdict,
    /// Its label.
    pub label: Label,
    /// Where each was read, verdict first.
    pub sources: [Source; 2],
}

/// What offering one message to one window did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Offered {
    /// The window it was offered to.
    pub role: Role,
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

/// One role's verdicts and the labels, waiting for each other.
pub struct JoinWindow {
    role: Role,
    window: Duration,
    max_pending: usize,
    /// Verdicts (slot 0) and labels (slot 1) waiting.
    pending: [HashMap<Key, Entry>; 2],
    /// Arrival order: sequence number → (slot, key).
    by_age: BTreeMap<u64, (usize, Key)>,
    next_seq: u64,
}

impl JoinWindow {
    /// An empty join of `role`'s verdicts with the labels: entries wait at most `window`, and at
    /// most `max_pending` (at least 1) wait at once.
    pub fn new(role: Role, window: Duration, max_pending: usize) -> Self {
        JoinWindow {
            role,
            window,
            max_pending: max_pending.max(1),
            pending: [HashMap::new(), HashMap::new()],
            by_age: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// The role whose verdicts this window pairs with the labels.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The input of the entries in `slot`.
    fn side(&self, slot: usize) -> Side {
        Side::joined_by(self.role)[slot]
    }

    /// Offers a message read at `partition`/`offset`, arrived at `now`: joined with its waiting
    /// counterpart, or left waiting. A verdict offered is one of this window's role.
    pub fn offer(&mut self, partition: i32, offset: i64, held: Held, now: Instant) -> Offered {
        let slot = held.slot();
        let side = self.side(slot);
        let key = (partition, held.tx_id().to_owned());
        let mut offered = Offered {
            role: self.role,
            ..Offered::default()
        };
        if let Some(other) = self.pending[1 - slot].remove(&key) {
            self.by_age.remove(&other.seq);
            let this = Source {
                side,
                partition,
                offset,
            };
            let that = Source {
                side: self.side(1 - slot),
                partition,
                offset: other.offset,
            };
            let role = self.role;
            offered.matched = Some(match (held, other.held) {
                (Held::Verdict(verdict), Held::Label(label)) => Match {
                    role,
                    verdict,
                    label,
                    sources: [this, that],
                },
                (Held::Label(label), Held::Verdict(verdict)) => Match {
                    role,
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
        if let Some(old) = self.pending[slot].insert(key.clone(), entry) {
            self.by_age.remove(&old.seq);
            offered.replaced = Some(Source {
                side,
                partition,
                offset: old.offset,
            });
        }
        self.by_age.insert(seq, (slot, key));
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
        while let Some((_, (slot, key))) = self.by_age.first_key_value() {
            let expired = self.pending[*slot]
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
        let (_, (slot, key)) = self.by_age.pop_first()?;
        let entry = self.pending[slot].remove(&key)?;
        Some(Eviction {
            role: self.role,
            source: Source {
                side: self.side(slot),
                partition: key.0,
                offset: entry.offset,
            },
            reason,
            label: match entry.held {
                Held::Label(label) => Some(label),
                Held::Verdict(_) => None,
            },
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
            .retain(|_, (slot, key)| pending[*slot].contains_key(key));
        before - self.len()
    }

    /// Entries of `side` waiting: labels, or this window's verdicts (either verdict side).
    pub fn pending(&self, side: Side) -> usize {
        self.pending[side.slot()].len()
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

/// The live join and, while shadow verdicts are read, the shadow join: a verdict goes to its
/// role's window, a label to both, so it meets the live and the shadow verdict of its transaction.
/// A message is released when every window it was offered to is done with it.
pub struct Joins {
    live: JoinWindow,
    shadow: Option<JoinWindow>,
}

impl Joins {
    /// Empty joins, each bounded by `window` and `max_pending`; the shadow one only if `shadow`.
    pub fn new(window: Duration, max_pending: usize, shadow: bool) -> Self {
        Joins {
            live: JoinWindow::new(Role::Live, window, max_pending),
            shadow: shadow.then(|| JoinWindow::new(Role::Shadow, window, max_pending)),
        }
    }

    /// The windows a message of `side` goes to.
    fn windows(&mut self, side: Side) -> impl Iterator<Item = &mut JoinWindow> {
        let (live, shadow) = match side {
            Side::Verdict => (true, false),
            Side::ShadowVerdict => (false, true),
            Side::Label => (true, true),
        };
        let live = live.then_some(&mut self.live);
        let shadow = self.shadow.as_mut().filter(|_| shadow);
        live.into_iter().chain(shadow)
    }

    /// How many windows a message of `side` goes to: each holds it until done with it.
    pub fn uses(&mut self, side: Side) -> u32 {
        self.windows(side).map(|_| 1).sum()
    }

    /// Offers a message of `side` to each of its windows: one [`Offered`] per window, live first.
    pub fn offer(
        &mut self,
        side: Side,
        partition: i32,
        offset: i64,
        held: Held,
        now: Instant,
    ) -> Vec<Offered> {
        self.windows(side)
            .map(|window| window.offer(partition, offset, held.clone(), now))
            .collect()
    }

    /// Evicts, in every window, what arrived more than the window before `now`.
    pub fn evict_expired(&mut self, now: Instant) -> Vec<Eviction> {
        let mut evicted = self.live.evict_expired(now);
        if let Some(shadow) = &mut self.shadow {
            evicted.extend(shadow.evict_expired(now));
        }
        evicted
    }

    /// Drops every entry of `partition` in every window; returns how many.
    pub fn drop_partition(&mut self, partition: i32) -> usize {
        self.live.drop_partition(partition)
            + self
                .shadow
                .as_mut()
                .map_or(0, |s| s.drop_partition(partition))
    }

    /// Entries of `side` waiting in `role`'s window (0 without that window).
    pub fn pending(&self, role: Role, side: Side) -> usize {
        match role {
            Role::Live => self.live.pending(side),
            Role::Shadow => self.shadow.as_ref().map_or(0, |s| s.pending(side)),
        }
    }
}

#[cfg(test)]
mod tests;
