//! Creating topics on a broker, idempotently: the contract's table (`deploy/topics.txt`, read by
//! `aegis_core::topics::table`) or ad-hoc ones. A topic that exists is kept when its partition
//! count is the one asked for, and is an error otherwise (the table and the broker disagree).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use aegis_core::topics::{table, TopicSpec};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

/// A topic to create: its name, partition count and `cleanup.policy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    /// The topic name.
    pub name: String,
    /// How many partitions (replication is always 1: one local broker).
    pub partitions: i32,
    /// `delete` or `compact`.
    pub cleanup_policy: String,
}

impl Topic {
    /// A topic with cleanup policy `delete`.
    pub fn new(name: &str, partitions: i32) -> Topic {
        Topic {
            name: name.to_owned(),
            partitions,
            cleanup_policy: "delete".to_owned(),
        }
    }

    /// Every topic of the contract's table, `deploy/topics.txt`, in its order.
    pub fn contract() -> Vec<Topic> {
        table().into_iter().map(Topic::from).collect()
    }
}

impl From<TopicSpec> for Topic {
    fn from(spec: TopicSpec) -> Topic {
        Topic {
            name: spec.name.to_owned(),
            partitions: spec.partitions,
            cleanup_policy: spec.cleanup_policy.to_owned(),
        }
    }
}

impl FromStr for Topic {
    type Err = String;

    /// `NAME:PARTITIONS` or `NAME:PARTITIONS:POLICY`, e.g. `t:4` or `models:1:compact`.
    fn from_str(text: &str) -> Result<Topic, String> {
        let fields: Vec<&str> = text.split(':').collect();
        let (name, partitions, policy) = match fields[..] {
            [name, partitions] => (name, partitions, "delete"),
            [name, partitions, policy] => (name, partitions, policy),
            _ => return Err(format!("{text:?} is not NAME:PARTITIONS[:delete|compact]")),
        };
        let partitions = partitions
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{text:?}: partitions must be a whole number above 0"))?;
        if name.is_empty() || !["delete", "compact"].contains(&policy) {
            return Err(format!("{text:?} is not NAME:PARTITIONS[:delete|compact]"));
        }
        Ok(Topic {
            name: name.to_owned(),
            partitions,
            cleanup_policy: policy.to_owned(),
        })
    }
}

/// What became of one topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It was created.
    Created,
    /// It existed already, with the partitions asked for.
    Existed,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Existed => "exists",
        })
    }
}

/// Why topics could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// The admin or metadata client could not be made.
    #[error("cannot make a Kafka client for {brokers}: {source}")]
    Client {
        /// The bootstrap servers.
        brokers: String,
        /// Why.
        source: KafkaError,
    },
    /// The create request got no answer.
    #[error("the broker at {brokers} did not answer a request to create topics: {source}")]
    Request {
        /// The bootstrap servers.
        brokers: String,
        /// Why.
        source: KafkaError,
    },
    /// The broker refused one topic.
    #[error("the broker at {brokers} refused to create topic {topic}: {code}")]
    Refused {
        /// The bootstrap servers.
        brokers: String,
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
    /// The topic exists with another partition count.
    #[error(
        "topic {topic} exists on {brokers} with {found} partitions, not {wanted}: \
         start on fresh broker storage (or change deploy/topics.txt)"
    )]
    Partitions {
        /// The bootstrap servers.
        brokers: String,
        /// The topic.
        topic: String,
        /// Partitions asked for.
        wanted: i32,
        /// Partitions on the broker.
        found: usize,
    },
    /// The topic's metadata could not be read back.
    #[error("cannot read topic {topic}'s metadata from {brokers}: {reason}")]
    Metadata {
        /// The bootstrap servers.
        brokers: String,
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
}

/// Creates `topics` on the broker at `brokers` (replication 1), keeping those that exist with the
/// partitions asked for; `limit` bounds the request and each metadata read.
pub async fn create(
    brokers: &str,
    topics: &[Topic],
    limit: Duration,
) -> Result<Vec<(Topic, Outcome)>, TopicError> {
    let config = client_config(brokers);
    let admin: AdminClient<DefaultClientContext> =
        config.create().map_err(|source| TopicError::Client {
            brokers: brokers.to_owned(),
            source,
        })?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            NewTopic::new(&t.name, t.partitions, TopicReplication::Fixed(1))
                .set("cleanup.policy", &t.cleanup_policy)
        })
        .collect();
    let answers = admin
        .create_topics(&new, &AdminOptions::new().operation_timeout(Some(limit)))
        .await
        .map_err(|source| TopicError::Request {
            brokers: brokers.to_owned(),
            source,
        })?;
    let mut outcomes = Vec::with_capacity(topics.len());
    for (topic, answer) in topics.iter().zip(answers) {
        let outcome = match answer {
            Ok(_) => Outcome::Created,
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => Outcome::Existed,
            Err((name, code)) => {
                return Err(TopicError::Refused {
                    brokers: brokers.to_owned(),
                    topic: name,
                    code,
                })
            }
        };
        outcomes.push((topic.clone(), outcome));
    }
    let metadata: BaseConsumer = config.create().map_err(|source| TopicError::Client {
        brokers: brokers.to_owned(),
        source,
    })?;
    for topic in topics {
        check_partitions(&metadata, brokers, topic, limit)?;
    }
    Ok(outcomes)
}

/// The topic must be on the broker with the partitions asked for.
fn check_partitions(
    metadata: &BaseConsumer,
    brokers: &str,
    topic: &Topic,
    limit: Duration,
) -> Result<(), TopicError> {
    let unreadable = |reason: String| TopicError::Metadata {
        brokers: brokers.to_owned(),
        topic: topic.name.clone(),
        reason,
    };
    let answer = metadata
        .fetch_metadata(Some(&topic.name), limit)
        .map_err(|e| unreadable(e.to_string()))?;
    let found = answer
        .topics()
        .iter()
        .find(|t| t.name() == topic.name)
        .ok_or_else(|| unreadable("the broker does not list it".to_owned()))?;
    if let Some(error) = found.error() {
        return Err(unreadable(format!("{:?}", RDKafkaErrorCode::from(error))));
    }
    let partitions = found.partitions().len();
    if usize::try_from(topic.partitions).ok() != Some(partitions) {
        return Err(TopicError::Partitions {
            brokers: brokers.to_owned(),
            topic: topic.name.clone(),
            wanted: topic.partitions,
            found: partitions,
        });
    }
    Ok(())
}

fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("log_level", "3");
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_read_from_name_partitions_and_policy() {
        assert_eq!("t:4".parse(), Ok(Topic::new("t", 4)));
        let compacted: Topic = "models:1:compact".parse().unwrap();
        assert_eq!(compacted.cleanup_policy, "compact");
        for bad in ["t", "t:0", "t:x", ":4", "t:4:forever", "t:4:delete:more"] {
            assert!(bad.parse::<Topic>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn the_contract_topics_come_from_the_table() {
        let names: Vec<String> = Topic::contract().into_iter().map(|t| t.name).collect();
        for topic in ["transactions", "verdicts", "transactions.dlq"] {
            assert!(names.iter().any(|n| n == topic), "{topic} is missing");
        }
    }
}
