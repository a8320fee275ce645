//! The account-state changelog: a compacted topic whose partition p holds the accounts of input
//! partition p (key = account, value = [`Stored`] as JSON; an evicted account is a tombstone).
//! [`ChangelogRecord`] is its one record type — encoded here for the producer, decoded here for
//! the restore — and [`changelog_restore`] reads a partition of it back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aegis_core::account_state::AccountHistory;
use anyhow::Context as _;
use rdkafka::consumer::BaseConsumer;
use rdkafka::Message;
use serde::{Deserialize, Serialize};

use crate::config::ScorerConfig;

/// An account as the changelog carries it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// Its remembered transactions, each with the source offset it came from.
    pub history: AccountHistory,
    /// When the account was last seen (event time, milliseconds).
    pub last_seen_ms: i64,
}

/// One record of the changelog: an account of a partition and its state, or `None` — a
/// tombstone — for an account dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangelogRecord {
    /// The changelog partition: the input partition the account's transactions arrive on.
    pub partition: i32,
    /// The origin account: the record's key.
    pub account: String,
    /// Its state, or `None` for a tombstone.
    pub state: Option<Stored>,
}

/// A changelog record that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum ChangelogError {
    /// The record has no key, so it names no account.
    #[error("a changelog record without a key")]
    NoKey,
    /// The value is not an account state.
    #[error("an unreadable account state: {0}")]
    Value(#[from] serde_json::Error),
}

impl ChangelogRecord {
    /// The record's key: the account.
    pub fn key(&self) -> &[u8] {
        self.account.as_bytes()
    }

    /// The record's value: the state as JSON, or `None` for a tombstone.
    pub fn value(&self) -> Result<Option<Vec<u8>>, serde_json::Error> {
        self.state.as_ref().map(serde_json::to_vec).transpose()
    }

    /// The record a message of partition `partition` of the changelog holds.
    pub fn decode(
        partition: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<ChangelogRecord, ChangelogError> {
        let account = String::from_utf8_lossy(key.ok_or(ChangelogError::NoKey)?).into_owned();
        let state = value.map(serde_json::from_slice).transpose()?;
        Ok(ChangelogRecord {
            partition,
            account,
            state,
        })
    }
}

/// The changelog records a batch produces: the last value per (partition, account).
#[derive(Debug, Default)]
pub struct Changes {
    latest: HashMap<(i32, String), Option<Stored>>,
}

impl Changes {
    /// Records that `account` of `partition` now holds `state` (`None`: dropped).
    pub fn put(&mut self, partition: i32, account: &str, state: Option<Stored>) {
        self.latest.insert((partition, account.to_owned()), state);
    }

    /// The latest value put for `account` of `partition`, if any.
    pub fn get(&self, partition: i32, account: &str) -> Option<&Option<Stored>> {
        self.latest.get(&(partition, account.to_owned()))
    }

    /// Accounts changed.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// The records to write, in no particular order (each key once).
    pub fn into_records(self) -> impl Iterator<Item = ChangelogRecord> {
        self.latest
            .into_iter()
            .map(|((partition, account), state)| ChangelogRecord {
                partition,
                account,
                state,
            })
    }
}

/// Reads a partition's accounts back: the latest value of every key, without the tombstoned
/// ones. Blocking. A trait object so that tests can stand in for the changelog topic.
pub type Restore = Arc<dyn Fn(i32) -> anyhow::Result<HashMap<String, Stored>> + Send + Sync>;

/// Restoring from `config`'s changelog topic, with a consumer of its own (no group: partition p
/// is assigned by hand and read from its beginning to its end); `None` without a changelog.
pub fn changelog_restore(config: &ScorerConfig) -> Option<Restore> {
    if config.state_changelog_topic.is_empty() {
        return None;
    }
    let (brokers, properties, topic) = (
        config.brokers.clone(),
        config.kafka.properties(),
        config.state_changelog_topic.clone(),
    );
    let limit = Duration::from_secs(config.state_restore_timeout_secs);
    Some(Arc::new(move |partition| {
        read_partition(&brokers, &properties, &topic, partition, limit)
    }))
}

fn read_partition(
    brokers: &str,
    properties: &[aegis_kafka::Property],
    topic: &str,
    partition: i32,
    limit: Duration,
) -> anyhow::Result<HashMap<String, Stored>> {
    let consumer: BaseConsumer = aegis_kafka::Settings::reader("aegis-scorer-state-restore")
        .client_config(brokers, properties)
        .create()
        .context("cannot create the state restore consumer")?;
    let mut accounts = HashMap::new();
    aegis_kafka::read_to_end(
        &consumer,
        topic,
        partition,
        Instant::now() + limit,
        |message| match ChangelogRecord::decode(partition, message.key(), message.payload()) {
            Ok(ChangelogRecord {
                account,
                state: Some(state),
                ..
            }) => {
                accounts.insert(account, state);
            }
            Ok(ChangelogRecord {
                account,
                state: None,
                ..
            }) => {
                accounts.remove(&account);
            }
            Err(e) => tracing::warn!(
                topic, partition, offset = message.offset(), error = %e,
                "skipped an unreadable changelog record"
            ),
        },
    )
    .with_context(|| {
        format!(
            "cannot restore the account states of {topic}[{partition}] within --state-restore-timeout {} s (raise it, or let the changelog compact: docs/state.md)",
            limit.as_secs()
        )
    })?;
    Ok(accounts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aegis_core::account_state::StateParams;
    use aegis_core::Transaction;

    #[test]
    fn a_record_decodes_to_what_was_encoded_and_a_tombstone_to_none() {
        let mut history = AccountHistory::default();
        history.observe(&Transaction::takeover_example(), 7, &StateParams::default());
        let record = ChangelogRecord {
            partition: 3,
            account: "C1".into(),
            state: Some(Stored {
                history,
                last_seen_ms: 42,
            }),
        };
        let value = record.value().unwrap();
        let back = ChangelogRecord::decode(3, Some(record.key()), value.as_deref()).unwrap();
        assert_eq!(back, record);
        let tombstone = ChangelogRecord::decode(3, Some(b"C1"), None).unwrap();
        assert_eq!(tombstone.state, None);
        assert_eq!(tombstone.value().unwrap(), None);
        assert!(ChangelogRecord::decode(3, None, None).is_err());
        assert!(ChangelogRecord::decode(3, Some(b"C1"), Some(b"{")).is_err());
    }
}
