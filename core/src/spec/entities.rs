//! What [`FeatureEngine`](super::engine::FeatureEngine) remembers per entity — each entity's
//! recent transactions — and the limits that bound it: most entities and most transactions per
//! entity field, the least recently seen entity forgotten first, each eviction counted.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::record::Value;

/// Most an entity table (one entity field, in one engine) keeps. An entity forgotten for a limit
/// starts again from no history when it is seen next: its features are then those of a new
/// entity, and differ from the trainer's, which keeps everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityLimits {
    /// Most entities kept; at least 1.
    pub max_keys: usize,
    /// Most transactions kept, over all the table's entities; at least 1.
    pub max_events: usize,
}

impl EntityLimits {
    /// No limit: the trainer's, and an engine's unless told otherwise.
    pub const NONE: EntityLimits = EntityLimits {
        max_keys: usize::MAX,
        max_events: usize::MAX,
    };
}

/// What an entity table's limits made it forget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evictions {
    /// Entities forgotten because the table held [`EntityLimits::max_keys`] already.
    pub keys: u64,
    /// Entities forgotten because the table held [`EntityLimits::max_events`] transactions —
    /// and, when the entity just seen held more than that on its own, each time its oldest
    /// transactions were.
    pub events: u64,
}

/// One entity table's size and evictions, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableUse<'a> {
    /// The entity field's name.
    pub entity: &'a str,
    /// Entities kept.
    pub keys: usize,
    /// Transactions kept, over every entity.
    pub events: usize,
    /// Evictions since the engine was created.
    pub evictions: Evictions,
}

/// An entity's key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Integer(i64),
    Text(Box<str>),
}

impl Key {
    pub(super) fn of(value: &Value) -> Key {
        match value {
            Value::Integer(n) => Key::Integer(*n),
            Value::Enum(i) => Key::Integer(*i as i64),
            Value::Float(x) => Key::Integer(x.to_bits() as i64),
            Value::Text(t) => Key::Text(t.as_str().into()),
        }
    }
}

/// One remembered transaction of an entity: 40 bytes, and 8 more per slot field on the heap.
pub(super) struct Event {
    pub time: i64,
    /// The transaction's id, hashed (`FeatureEngine::id_of`): how a label that arrives later
    /// finds it.
    pub id: u64,
    pub label: Option<bool>,
    /// The slot fields' values (a text field as a hash, compared by bits).
    pub values: Box<[f64]>,
}

/// An entity's transactions, oldest first, and when it was last seen.
struct History {
    /// The engine's count of records observed when this entity was last seen.
    seen: u64,
    events: VecDeque<Event>,
}

/// The recent transactions of every entity of one entity field, within its limits.
pub(super) struct EntityTable {
    /// The entity field, and its name.
    pub field: usize,
    pub name: String,
    /// The fields each remembered transaction keeps, in slot order.
    pub slots: Vec<usize>,
    /// How far back any feature of this entity looks (window, or window plus delay).
    pub span: i64,
    by_key: HashMap<Key, History>,
    /// Every entity by when it was last seen ([`History::seen`], unique): the least recently
    /// seen first.
    by_seen: BTreeMap<u64, Key>,
    /// Transactions kept, over every entity.
    events: usize,
    limits: EntityLimits,
    evictions: Evictions,
}

impl EntityTable {
    pub fn new(field: usize, name: &str) -> EntityTable {
        EntityTable {
            field,
            name: name.to_owned(),
            slots: Vec::new(),
            span: 0,
            by_key: HashMap::new(),
            by_seen: BTreeMap::new(),
            events: 0,
            limits: EntityLimits::NONE,
            evictions: Evictions::default(),
        }
    }

    pub fn limit(&mut self, limits: EntityLimits) {
        self.limits = EntityLimits {
            max_keys: limits.max_keys.max(1),
            max_events: limits.max_events.max(1),
        };
    }

    /// Takes `key`'s transactions out (none for an entity not kept), forgetting those older than
    /// the span at `now`; [`EntityTable::put_back`] returns them.
    pub fn take(&mut self, key: &Key, now: i64) -> VecDeque<Event> {
        let Some(History { seen, mut events }) = self.by_key.remove(key) else {
            return VecDeque::new();
        };
        self.by_seen.remove(&seen);
        self.events -= events.len();
        while events.front().is_some_and(|e| e.time <= now - self.span) {
            events.pop_front();
        }
        events
    }

    /// Puts `key`'s transactions back with `event` added, as seen at record `seen` (larger than
    /// any before): the most recently seen entity. To stay within the limits, the least recently
    /// seen entities are forgotten first — and an entity holding more than
    /// [`EntityLimits::max_events`] on its own keeps its newest.
    pub fn put_back(&mut self, key: Key, mut events: VecDeque<Event>, event: Event, seen: u64) {
        events.push_back(event);
        if events.len() > self.limits.max_events {
            events.drain(..events.len() - self.limits.max_events);
            self.evictions.events += 1;
        }
        // `key` is out of the table meanwhile: what is forgotten is another entity.
        while self.by_key.len() >= self.limits.max_keys && self.forget_least_recent() {
            self.evictions.keys += 1;
        }
        while self.events + events.len() > self.limits.max_events && self.forget_least_recent() {
            self.evictions.events += 1;
        }
        self.events += events.len();
        self.by_seen.insert(seen, key.clone());
        self.by_key.insert(key, History { seen, events });
    }

    /// Forgets the least recently seen entity; `false` when there is none.
    fn forget_least_recent(&mut self) -> bool {
        let Some((_, key)) = self.by_seen.pop_first() else {
            return false;
        };
        if let Some(history) = self.by_key.remove(&key) {
            self.events -= history.events.len();
        }
        true
    }

    /// `key`'s transactions, to label one.
    pub fn events_mut(&mut self, key: &Key) -> Option<&mut VecDeque<Event>> {
        self.by_key.get_mut(key).map(|h| &mut h.events)
    }

    /// Forgets the entities whose latest transaction is older than the span at `now`.
    pub fn sweep(&mut self, now: i64) {
        let (span, by_seen, events) = (self.span, &mut self.by_seen, &mut self.events);
        self.by_key.retain(|_, history| {
            let keep = history.events.back().is_some_and(|e| e.time > now - span);
            if !keep {
                by_seen.remove(&history.seen);
                *events -= history.events.len();
            }
            keep
        });
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn usage(&self) -> TableUse<'_> {
        TableUse {
            entity: &self.name,
            keys: self.by_key.len(),
            events: self.events,
            evictions: self.evictions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sees `key` at `time` as the engine does: its history taken out, the record added back.
    fn see(table: &mut EntityTable, key: i64, time: i64, seen: &mut u64) {
        let key = Key::Integer(key);
        let events = table.take(&key, time);
        let event = Event {
            time,
            id: *seen,
            label: None,
            values: Box::new([]),
        };
        table.put_back(key, events, event, *seen);
        *seen += 1;
    }

    fn kept(table: &mut EntityTable, key: i64) -> Option<Vec<i64>> {
        let events = table.events_mut(&Key::Integer(key))?;
        Some(events.iter().map(|e| e.time).collect())
    }

    fn table(max_keys: usize, max_events: usize) -> EntityTable {
        let mut table = EntityTable::new(0, "CARD");
        table.span = 1_000;
        table.limit(EntityLimits {
            max_keys,
            max_events,
        });
        table
    }

    #[test]
    fn a_full_table_forgets_the_least_recently_seen_entity_and_counts_it() {
        let (mut table, mut seen) = (table(2, usize::MAX), 0);
        see(&mut table, 1, 10, &mut seen);
        see(&mut table, 2, 20, &mut seen);
        see(&mut table, 1, 30, &mut seen); // 2 is now the least recently seen
        see(&mut table, 3, 40, &mut seen);
        assert_eq!(kept(&mut table, 2), None);
        assert_eq!(kept(&mut table, 1), Some(vec![10, 30]));
        assert_eq!(kept(&mut table, 3), Some(vec![40]));
        see(&mut table, 2, 50, &mut seen); // back, from nothing; 1 goes
        assert_eq!(kept(&mut table, 2), Some(vec![50]));
        assert_eq!(kept(&mut table, 1), None);
        let usage = table.usage();
        assert_eq!((usage.entity, usage.keys, usage.events), ("CARD", 2, 2));
        assert_eq!(usage.evictions, Evictions { keys: 2, events: 0 });
    }

    #[test]
    fn a_table_over_its_transactions_forgets_the_least_recently_seen_then_the_oldest() {
        let (mut table, mut seen) = (table(usize::MAX, 3), 0);
        see(&mut table, 1, 10, &mut seen);
        see(&mut table, 1, 20, &mut seen);
        see(&mut table, 2, 30, &mut seen);
        assert_eq!(table.usage().events, 3);
        see(&mut table, 2, 40, &mut seen); // 4 > 3: card 1 (2 transactions) goes whole
        assert_eq!(kept(&mut table, 1), None);
        assert_eq!(table.usage().evictions, Evictions { keys: 0, events: 1 });
        see(&mut table, 2, 50, &mut seen);
        see(&mut table, 2, 60, &mut seen); // alone over the limit: its oldest goes
        assert_eq!(kept(&mut table, 2), Some(vec![40, 50, 60]));
        let usage = table.usage();
        assert_eq!((usage.keys, usage.events), (1, 3));
        assert_eq!(usage.evictions, Evictions { keys: 0, events: 2 });
    }

    #[test]
    fn transactions_past_the_span_and_silent_entities_leave_the_count() {
        let (mut table, mut seen) = (table(10, 10), 0);
        see(&mut table, 1, 0, &mut seen);
        see(&mut table, 1, 500, &mut seen);
        see(&mut table, 2, 600, &mut seen);
        see(&mut table, 1, 1_200, &mut seen); // 0 is past the span of 1,000
        assert_eq!(kept(&mut table, 1), Some(vec![500, 1_200]));
        assert_eq!(table.usage().events, 3);
        table.sweep(1_700); // 2's latest, 600, is past the span
        assert_eq!((table.usage().keys, table.usage().events), (1, 2));
        see(&mut table, 3, 1_800, &mut seen);
        assert_eq!(table.usage().evictions, Evictions::default());
    }
}
