//! History from Kafka: the retained `transactions` and `labels` topics read from a time, each
//! transaction given the label published for it (a [`History`], in the order read) — what `backtest --brokers B --since T` decides
//! and `export-outcomes` writes as a training CSV.
//!
//! The topics are read with a consumer assigned by hand (`aegis_kafka::read::read_since`): no
//! consumer group is joined and nothing is committed, so the live scorers' group is not touched.
//! `--since` is a Kafka record time (when the record was written), not an event time: labels are
//! written after their transactions, so every label of a transaction read is read too. A message
//! that does not decode (the scorer dead-letters those) is counted and left out; so is a label
//! whose transaction was not read.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aegis_core::avro::{AvroCodec, SpecCodec};
use aegis_core::spec::record::Value;
use aegis_core::spec::FieldRole;
use aegis_core::topics::{LABELS_TOPIC, TRANSACTIONS_TOPIC};
use aegis_core::Model;
use aegis_kafka::read::read_since;
use aegis_kafka::{KafkaFlags, Settings, TopicPrefix};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use rdkafka::consumer::BaseConsumer;
use rdkafka::Message;

use crate::backtest::History;
use crate::spec::period;

/// Where the history comes from when it is read from Kafka (the default: not from Kafka).
#[derive(Args, Debug, Clone)]
pub struct KafkaHistoryArgs {
    /// Read the history from this Kafka cluster's retained transactions and labels topics
    /// (with --since) instead of a CSV.
    #[arg(long, requires = "since", conflicts_with = "data")]
    pub brokers: Option<String>,
    /// From when: records written to Kafka at or after this time — a date (`YYYY-MM-DD`, UTC), a
    /// timestamp, or a duration ago (`7d`, `12h`).
    #[arg(long, requires = "brokers", value_name = "TIME")]
    pub since: Option<String>,
    /// The topic of transactions to read.
    #[arg(long, value_name = "TOPIC", default_value = TRANSACTIONS_TOPIC)]
    pub transactions_topic: String,
    /// The topic of labels to read.
    #[arg(long, value_name = "TOPIC", default_value = LABELS_TOPIC)]
    pub labels_topic: String,
    /// How long reading both topics to their ends may take.
    #[arg(
        long = "read-timeout",
        default_value = "5m",
        value_name = "DURATION",
        value_parser = aegis_kafka::duration::secs(1, u64::MAX)
    )]
    pub read_timeout_secs: u64,
    /// librdkafka properties: `-X key=value` and `--kafka-config FILE`.
    #[command(flatten)]
    pub kafka: KafkaFlags,
    /// `--topic-prefix`, before both topics.
    #[command(flatten)]
    pub prefix: TopicPrefix,
}

impl Default for KafkaHistoryArgs {
    /// Not from Kafka; the flags' defaults otherwise.
    fn default() -> Self {
        KafkaHistoryArgs {
            brokers: None,
            since: None,
            transactions_topic: TRANSACTIONS_TOPIC.to_owned(),
            labels_topic: LABELS_TOPIC.to_owned(),
            read_timeout_secs: 300,
            kafka: KafkaFlags::default(),
            prefix: TopicPrefix::default(),
        }
    }
}

/// What reading the history found.
pub struct Read {
    pub history: History,
    /// Transactions read and decoded.
    pub transactions: usize,
    /// Of them, with a label.
    pub labelled: usize,
    /// Messages of either topic that did not decode, left out.
    pub undecodable: usize,
    /// Labels of transactions not read (written before --since, or never), left out.
    pub orphan_labels: usize,
}

impl Read {
    /// One line for the report's head.
    pub fn summary(&self, args: &KafkaHistoryArgs) -> String {
        format!(
            "{} since {}: {} transactions ({} labelled); {} undecodable messages and {} labels of transactions not read left out",
            args.prefix.topic(&args.transactions_topic),
            args.since.as_deref().unwrap_or_default(),
            self.transactions,
            self.labelled,
            self.undecodable,
            self.orphan_labels,
        )
    }
}

/// Milliseconds since the Unix epoch of a `--since` value, against `now_ms`.
pub fn since_ms(text: &str, now_ms: i64) -> Result<i64> {
    if let Ok(ago) = aegis_kafka::duration::parse(text) {
        return Ok(now_ms - i64::try_from(ago.as_millis()).unwrap_or(i64::MAX));
    }
    period::parse_instant(text).map_err(|e| anyhow!("--since: {e}, nor a duration (7d)"))
}

/// Reads the history `args` name, decoded as `model`'s transactions.
pub fn read(model: &Model, args: &KafkaHistoryArgs) -> Result<Read> {
    let (Some(brokers), Some(since)) = (&args.brokers, &args.since) else {
        bail!("--brokers and --since go together");
    };
    let since = since_ms(since, aegis_core::clock::now_ms())?;
    let consumer: BaseConsumer = Settings::reader("aegis-trainer-history")
        .client_config(brokers, &args.kafka.properties())
        .create()
        .context("cannot create a Kafka consumer")?;
    let deadline = Instant::now() + Duration::from_secs(args.read_timeout_secs);
    let (transactions_topic, labels_topic) = (
        args.prefix.topic(&args.transactions_topic),
        args.prefix.topic(&args.labels_topic),
    );

    let mut labels: HashMap<String, bool> = HashMap::new();
    let mut undecodable = 0;
    let found = read_since(&consumer, &labels_topic, since, deadline, |message| {
        match message.payload().map(|b| AvroCodec::label().decode(b)) {
            // A later label of a transaction replaces an earlier one (a chargeback after an
            // analyst's call).
            Some(Ok((label, _))) => {
                labels.insert(label.tx_id, label.is_fraud);
            }
            _ => undecodable += 1,
        }
    })
    .with_context(|| format!("cannot read topic {labels_topic}"))?;
    if !found {
        bail!("topic {labels_topic} does not exist (--labels-topic)");
    }

    let mut labelled = 0;
    let history = if model.is_paysim() {
        let mut txs = Vec::new();
        let found =
            read_since(
                &consumer,
                &transactions_topic,
                since,
                deadline,
                |message| match message
                    .payload()
                    .map(|b| AvroCodec::transaction().decode(b))
                {
                    Some(Ok((mut tx, _))) => {
                        tx.is_fraud = labels.remove(&tx.tx_id);
                        labelled += usize::from(tx.is_fraud.is_some());
                        txs.push(tx);
                    }
                    _ => undecodable += 1,
                },
            )
            .with_context(|| format!("cannot read topic {transactions_topic}"))?;
        if !found {
            bail!("topic {transactions_topic} does not exist (--transactions-topic)");
        }
        History::Paysim(txs)
    } else {
        let spec = model.spec();
        let codec = SpecCodec::new(spec)?;
        let label_field = spec.fields.iter().position(|f| f.role == FieldRole::Label);
        let mut records = Vec::new();
        let found =
            read_since(
                &consumer,
                &transactions_topic,
                since,
                deadline,
                |message| match message.payload().map(|b| codec.decode(b)) {
                    Some(Ok(wire)) => {
                        let mut record = wire.record;
                        record.label = labels.remove(&wire.tx_id);
                        if let (Some(f), Some(fraud)) = (label_field, record.label) {
                            record.values[f] = Value::Integer(i64::from(fraud));
                        }
                        labelled += usize::from(record.label.is_some());
                        records.push(record);
                    }
                    _ => undecodable += 1,
                },
            )
            .with_context(|| format!("cannot read topic {transactions_topic}"))?;
        if !found {
            bail!("topic {transactions_topic} does not exist (--transactions-topic)");
        }
        History::Spec(records)
    };
    let transactions = match &history {
        History::Paysim(txs) => txs.len(),
        History::Spec(records) => records.len(),
    };
    Ok(Read {
        history,
        transactions,
        labelled,
        undecodable,
        orphan_labels: labels.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_date_a_timestamp_or_a_duration_ago() {
        let now = 1_800_000_000_000;
        assert_eq!(since_ms("7d", now).unwrap(), now - 7 * 86_400_000);
        assert_eq!(since_ms("90s", now).unwrap(), now - 90_000);
        assert_eq!(since_ms("2018-04-02", now).unwrap(), 1_522_627_200_000);
        assert_eq!(
            since_ms("2018-04-02 01:00:00", now).unwrap(),
            1_522_630_800_000
        );
        let error = since_ms("last tuesday", now).unwrap_err().to_string();
        assert!(error.starts_with("--since: "), "{error}");
    }
}
