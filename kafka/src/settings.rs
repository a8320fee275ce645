//! The librdkafka settings of every Aegis client, written once: a group member that stores its own
//! offsets, a reader that is assigned partitions by hand, and the two producers — reliable
//! (idempotent, acknowledged by every in-sync replica) and ordered-but-not-idempotent, for
//! compacted changelogs. A binary starts from one of these, adds its own tuning with
//! [`Settings::set`] (each with its reason beside it), and the user's `-X` properties override
//! everything ([`Settings::client_config`]).

use rdkafka::ClientConfig;

use crate::properties::{client_config, Property};

/// A client's settings before the user's `-X` properties: key → value, later `set`s replacing
/// earlier ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pairs: Vec<(&'static str, String)>,
}

/// librdkafka's name for the Java client's default partitioner (murmur2 of the key; a record
/// without a key goes anywhere). librdkafka's own default is CRC32, which puts the same key on
/// another partition than a JVM producer, Kafka Streams or Flink would: every Aegis producer uses
/// this one, so other teams' jobs can co-partition with Aegis's topics (docs/security.md).
pub const JAVA_PARTITIONER: &str = "murmur2_random";

/// The partition the Java client's default partitioner gives `key` among `partitions`: Kafka's
/// `Utils.murmur2`, then `toPositive(h) % n` — written from the Java source, apart from
/// librdkafka's (the producer's tests check the two agree). How a reader tells whether a record
/// was keyed and partitioned as Aegis's producers do.
pub fn java_partition(key: &[u8], partitions: i32) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ key.len() as u32;
    let chunks = key.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    let n = u32::try_from(partitions.max(1)).unwrap_or(1);
    ((h & 0x7fff_ffff) % n) as i32
}

impl Settings {
    /// A member of consumer group `group_id` that works at least once: it stores an offset only
    /// once the work for it is acknowledged (`store_offset`), and librdkafka commits stored
    /// offsets in the background. Partitions move between members incrementally
    /// (cooperative-sticky): a member joining or leaving takes or gives only its share, and a
    /// member that died without leaving is recovered from on tansu too (chaos/README.md). A new
    /// group starts from the earliest offset; fetches return after 10 ms at most.
    pub fn group_consumer(group_id: &str) -> Settings {
        Settings::default()
            .set("group.id", group_id)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", "1000")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("fetch.wait.max.ms", "10")
    }

    /// A consumer assigned partitions by hand — to read a topic whole, or to follow it — that never
    /// joins a group or commits. `client` names it in the broker's logs (librdkafka needs a
    /// `group.id` even when no group is joined).
    pub fn reader(client: &str) -> Settings {
        Settings::default()
            .set("group.id", client)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
    }

    /// A producer whose records are never lost nor duplicated by retries: idempotent, and
    /// acknowledged by all in-sync replicas. Keys go to partitions as the Java client puts them
    /// ([`JAVA_PARTITIONER`]).
    pub fn reliable_producer() -> Settings {
        Settings::default()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", JAVA_PARTITIONER)
    }

    /// A producer for a compacted changelog: acknowledged by all in-sync replicas like the
    /// reliable one, but not idempotent; one request in flight at a time keeps each partition's
    /// records in order through retries, and a record a retry writes twice is harmless in a topic
    /// read back as the last value per key. That spares it the idempotent producer's busy wait
    /// while its five requests in flight await a slow broker (docs/benchmarks.md).
    pub fn changelog_producer() -> Settings {
        Settings::default()
            .set("enable.idempotence", "false")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "1")
            .set("partitioner", JAVA_PARTITIONER)
    }

    /// These settings with `key` set to `value` (replacing an earlier value of `key`).
    #[must_use]
    pub fn set(mut self, key: &'static str, value: impl ToString) -> Settings {
        let value = value.to_string();
        match self.pairs.iter_mut().find(|(k, _)| *k == key) {
            Some(pair) => pair.1 = value,
            None => self.pairs.push((key, value)),
        }
        self
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every setting, in the order first set.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.pairs.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// A client config for `brokers`: these settings, then the user's `properties` over them.
    pub fn client_config(&self, brokers: &str, properties: &[Property]) -> ClientConfig {
        let pairs: Vec<(&str, &str)> = self.pairs().collect();
        client_config(brokers, &pairs, properties)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_settings_replace_earlier_ones_and_the_users_properties_win() {
        let settings = Settings::reliable_producer()
            .set("linger.ms", 5)
            .set("linger.ms", 20);
        assert_eq!(settings.get("linger.ms"), Some("20"));
        assert_eq!(settings.pairs().count(), 4);
        let user = Property {
            key: "acks".into(),
            value: "1".into(),
        };
        let config = settings.client_config("b:9092", &[user]);
        assert_eq!(config.get("acks"), Some("1"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
    }

    #[test]
    fn the_changelog_producer_keeps_order_and_acks_without_idempotence() {
        let settings = Settings::changelog_producer();
        assert_eq!(settings.get("acks"), Some("all"));
        assert_eq!(settings.get("enable.idempotence"), Some("false"));
        assert_eq!(
            settings.get("max.in.flight.requests.per.connection"),
            Some("1")
        );
    }

    #[test]
    fn a_reader_never_commits_and_a_group_member_stores_its_own_offsets() {
        let reader = Settings::reader("aegis-x");
        assert_eq!(reader.get("enable.auto.commit"), Some("false"));
        let member = Settings::group_consumer("g");
        assert_eq!(member.get("group.id"), Some("g"));
        assert_eq!(member.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(member.get("enable.auto.commit"), Some("true"));
    }
}
