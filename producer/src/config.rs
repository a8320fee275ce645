//! The producer's flags: every one also an `AEGIS_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use aegis_core::topics::{LABELS_TOPIC, TRANSACTIONS_TOPIC};
use aegis_kafka::duration;
use aegis_kafka::renamed::{self, Flag, Value, Variable};
use aegis_kafka::{ConnectFlags, KafkaFlags, TopicPrefix};
use clap::{ArgGroup, Args, ValueEnum};

/// Scenarios mixed into simulated traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Every `--takeover-every` transactions: a small local payment from an account, then a
    /// transfer that empties it.
    AccountTakeover,
}

/// How to run the producer.
#[derive(Args, Clone, Debug)]
#[command(group(ArgGroup::new("source").required(true).args(["replay", "simulate"])))]
pub struct ProducerConfig {
    /// Kafka bootstrap servers, e.g. `localhost:9092` (not needed with --out).
    #[arg(long, env = "AEGIS_BROKERS", required_unless_present = "out")]
    pub brokers: Option<String>,
    /// Topic to publish transactions to (key = origin account).
    #[arg(long = "transactions-topic", env = "AEGIS_TRANSACTIONS_TOPIC", value_name = "TOPIC", default_value = TRANSACTIONS_TOPIC)]
    pub topic: String,
    /// Replay the rows of a PaySim CSV in step order (repeated, with new ids, if --count asks for
    /// more); with --spec, a CSV of that spec, once, in event-time order.
    #[arg(long, env = "AEGIS_PRODUCER_REPLAY", value_name = "CSV")]
    pub replay: Option<PathBuf>,
    /// Read --replay by this spec (docs/specs.md): its rows in event-time order, keyed by the
    /// spec's key field, in the Avro schema generated from it; each row's own event time is kept.
    /// PaySim's own path when not given.
    #[arg(
        long,
        env = "AEGIS_PRODUCER_SPEC",
        requires = "replay",
        value_name = "FILE"
    )]
    pub spec: Option<PathBuf>,
    /// With --spec: replay at N seconds of event time per second (a row is sent when its event
    /// time, counted from the first row's, divided by N has passed). Default: as fast as the
    /// broker takes them, or --rate.
    #[arg(
        long,
        env = "AEGIS_PRODUCER_SPEEDUP",
        value_name = "N",
        requires = "spec",
        conflicts_with = "rate"
    )]
    pub speedup: Option<f64>,
    /// Simulate PaySim-like traffic (type mix, amounts, balances, and PaySim's fraud pattern).
    #[arg(long, env = "AEGIS_PRODUCER_SIMULATE")]
    pub simulate: bool,
    /// Write the simulated transactions to this PaySim CSV file (same columns, `isFraud` filled,
    /// hourly steps shaped like PaySim's) instead of publishing them: no broker needed.
    #[arg(long, env = "AEGIS_PRODUCER_OUT", value_name = "FILE.csv", requires = "simulate", conflicts_with_all = ["rate", "duration"])]
    pub out: Option<PathBuf>,
    /// With --out: spread the rows over this many hourly steps (default: as many as PaySim needs
    /// for --count rows; one day, 24, without --count).
    #[arg(long, env = "AEGIS_PRODUCER_STEPS", requires = "out", value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: Option<u32>,
    /// Transactions per second (default: as fast as the broker takes them).
    #[arg(long, env = "AEGIS_PRODUCER_RATE", value_name = "TX_PER_S")]
    pub rate: Option<f64>,
    /// Stop after this many transactions.
    #[arg(long, env = "AEGIS_PRODUCER_COUNT")]
    pub count: Option<u64>,
    /// Stop after this long.
    #[arg(
        long,
        env = "AEGIS_PRODUCER_DURATION",
        value_name = "DURATION",
        value_parser = duration::at_least(Duration::from_millis(1))
    )]
    pub duration: Option<Duration>,
    /// Mix a scenario into simulated traffic.
    #[arg(long, env = "AEGIS_PRODUCER_SCENARIO", value_enum)]
    pub scenario: Option<Scenario>,
    /// How often (in transactions) the account-takeover scenario plays.
    #[arg(long, env = "AEGIS_PRODUCER_TAKEOVER_EVERY", default_value_t = 500, value_parser = clap::value_parser!(u64).range(2..))]
    pub takeover_every: u64,
    /// Share of simulated transactions that are fraud (PaySim: 0.0013).
    #[arg(long, env = "AEGIS_PRODUCER_FRAUD_RATE", default_value_t = 0.0013)]
    pub fraud_rate: f64,
    /// Seed of the simulator: the same seed gives the same transactions.
    #[arg(long, env = "AEGIS_PRODUCER_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Publish the label of every labelled transaction (a replayed row's isFraud, the simulator's
    /// fraud flag) to --labels-topic this long after the transaction (key = origin account).
    /// Real chargebacks take days; a demo compresses that. Without it, no labels.
    #[arg(
        long,
        env = "AEGIS_PRODUCER_LABEL_DELAY",
        value_name = "DURATION",
        value_parser = duration::at_least(Duration::ZERO)
    )]
    pub label_delay: Option<Duration>,
    /// The share of labels published, in [0, 1]; the rest are withheld, as in life (which ones
    /// follows from --seed and the transaction id).
    #[arg(
        long,
        env = "AEGIS_PRODUCER_LABEL_SHARE",
        value_name = "FRACTION",
        default_value_t = 1.0,
        requires = "label_delay"
    )]
    pub label_share: f64,
    /// Topic to publish labels to (with --label-delay).
    #[arg(long, env = "AEGIS_LABELS_TOPIC", value_name = "TOPIC", default_value = LABELS_TOPIC)]
    pub labels_topic: String,
    /// Schema Registry URL: register the transaction schema under `<topic>-value` and write the
    /// Confluent wire format (default: Avro single-object encoding).
    #[arg(long, env = "AEGIS_SCHEMA_REGISTRY_URL")]
    pub schema_registry_url: Option<String>,
    /// Serve Prometheus metrics (`/metrics`) on this address.
    #[arg(long, env = "AEGIS_PRODUCER_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// `--connect-timeout`: how long to wait at start for the brokers and the topics.
    #[command(flatten)]
    pub connect: ConnectFlags,
    /// `--topic-prefix`: applied once, by [`ProducerConfig::apply_topic_prefix`].
    #[command(flatten)]
    pub prefix: TopicPrefix,
    /// librdkafka properties: `-X key=value` and `--kafka-config FILE`.
    #[command(flatten)]
    pub kafka: KafkaFlags,
    /// Draw a progress bar on stderr. Not a flag: the binary sets it when stderr is a terminal.
    #[arg(skip)]
    pub progress: bool,
}

impl ProducerConfig {
    /// The command line's defaults for `brokers` and `topic`, with no source chosen yet: set
    /// `replay` or `simulate` (and anything else) before running. For library users and tests.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        ProducerConfig {
            brokers: Some(brokers.into()),
            topic: topic.into(),
            replay: None,
            spec: None,
            speedup: None,
            simulate: false,
            out: None,
            steps: None,
            rate: None,
            count: None,
            duration: None,
            scenario: None,
            takeover_every: 500,
            fraud_rate: 0.0013,
            seed: 42,
            label_delay: None,
            label_share: 1.0,
            labels_topic: LABELS_TOPIC.to_owned(),
            schema_registry_url: None,
            metrics_addr: None,
            connect: ConnectFlags::default(),
            prefix: TopicPrefix::default(),
            kafka: KafkaFlags::default(),
            progress: false,
        }
    }

    /// Checks values clap cannot: one line saying what to fix.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(rate) = self.rate {
            anyhow::ensure!(
                rate.is_finite() && rate > 0.0,
                "--rate must be a positive number of transactions per second (got {rate})"
            );
        }
        if let Some(n) = self.speedup {
            anyhow::ensure!(
                n.is_finite() && n > 0.0,
                "--speedup must be a positive number of event-time seconds per second (got {n})"
            );
        }
        anyhow::ensure!(
            (0.0..1.0).contains(&self.fraud_rate),
            "--fraud-rate must be in [0, 1) (got {})",
            self.fraud_rate
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.label_share),
            "--label-share must be a fraction in [0, 1] (got {})",
            self.label_share
        );
        anyhow::ensure!(
            self.scenario.is_none() || self.simulate,
            "--scenario needs --simulate (a replay sends the file as it is)"
        );
        Ok(())
    }
}

/// Flags renamed in issue 31, read for one release with a warning ([`aegis_kafka::renamed`]).
pub const RENAMED_FLAGS: &[Flag] = &[
    Flag::new("--topic", "--transactions-topic", Value::Same),
    Flag::new("--duration", "--duration", Value::Seconds),
    Flag::new("--label-delay", "--label-delay", Value::Seconds),
    Flag::new("--connect-timeout", "--connect-timeout", Value::Seconds),
];

/// Environment variables renamed in issue 31, read for one release with a warning.
pub const RENAMED_VARIABLES: &[Variable] = &[
    Variable::new(
        "AEGIS_TOPIC",
        "AEGIS_TRANSACTIONS_TOPIC",
        "--transactions-topic",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_REPLAY",
        "AEGIS_PRODUCER_REPLAY",
        "--replay",
        Value::Same,
    ),
    Variable::new("AEGIS_SPEC", "AEGIS_PRODUCER_SPEC", "--spec", Value::Same),
    Variable::new(
        "AEGIS_SPEEDUP",
        "AEGIS_PRODUCER_SPEEDUP",
        "--speedup",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_SIMULATE",
        "AEGIS_PRODUCER_SIMULATE",
        "--simulate",
        Value::Switch,
    ),
    Variable::new("AEGIS_OUT", "AEGIS_PRODUCER_OUT", "--out", Value::Same),
    Variable::new(
        "AEGIS_STEPS",
        "AEGIS_PRODUCER_STEPS",
        "--steps",
        Value::Same,
    ),
    Variable::new("AEGIS_RATE", "AEGIS_PRODUCER_RATE", "--rate", Value::Same),
    Variable::new(
        "AEGIS_COUNT",
        "AEGIS_PRODUCER_COUNT",
        "--count",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_DURATION",
        "AEGIS_PRODUCER_DURATION",
        "--duration",
        Value::Seconds,
    ),
    Variable::new(
        "AEGIS_SCENARIO",
        "AEGIS_PRODUCER_SCENARIO",
        "--scenario",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_TAKEOVER_EVERY",
        "AEGIS_PRODUCER_TAKEOVER_EVERY",
        "--takeover-every",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_FRAUD_RATE",
        "AEGIS_PRODUCER_FRAUD_RATE",
        "--fraud-rate",
        Value::Same,
    ),
    Variable::new("AEGIS_SEED", "AEGIS_PRODUCER_SEED", "--seed", Value::Same),
    Variable::new(
        "AEGIS_LABEL_DELAY",
        "AEGIS_PRODUCER_LABEL_DELAY",
        "--label-delay",
        Value::Seconds,
    ),
    Variable::new(
        "AEGIS_LABEL_SHARE",
        "AEGIS_PRODUCER_LABEL_SHARE",
        "--label-share",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_METRICS_ADDR",
        "AEGIS_PRODUCER_METRICS_ADDR",
        "--metrics-addr",
        Value::Same,
    ),
    renamed::CONNECT_TIMEOUT_SECONDS,
];

impl ProducerConfig {
    /// Puts `--topic-prefix` before the transactions and labels topics, once, after parsing.
    pub fn apply_topic_prefix(&mut self) {
        let prefix = std::mem::take(&mut self.prefix);
        prefix.apply(&mut [&mut self.topic, &mut self.labels_topic]);
    }

    /// The labels asked for with `--label-delay` (and `--label-share`, `--seed`), if any.
    pub fn label_plan(&self) -> Option<crate::labels::LabelPlan> {
        self.label_delay.map(|delay| crate::labels::LabelPlan {
            delay,
            share: self.label_share,
            seed: self.seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Producer {
        #[command(flatten)]
        config: super::ProducerConfig,
    }

    #[test]
    fn the_old_spellings_point_at_flags_and_variables_of_this_command() {
        aegis_kafka::renamed::check_against(
            &Producer::command(),
            super::RENAMED_FLAGS,
            super::RENAMED_VARIABLES,
        )
        .unwrap();
    }
}
