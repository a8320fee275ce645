//! The outcome service's flags: every one also an `AEGIS_*` environment variable.

use std::net::SocketAddr;
use std::time::Duration;

use aegis_core::topics::{LABELS_TOPIC, OUTCOMES_TOPIC, SHADOW_VERDICTS_TOPIC, VERDICTS_TOPIC};
use aegis_kafka::duration::secs;
use aegis_kafka::renamed::{self, Flag, Value, Variable};
use aegis_kafka::{KafkaFlags, TopicPrefix};
use clap::Args;

/// How to run the outcome service.
#[derive(Args, Clone, Debug)]
pub struct OutcomesConfig {
    /// Kafka bootstrap servers, e.g. `localhost:9092`.
    #[arg(long, env = "AEGIS_BROKERS")]
    pub brokers: String,
    /// Consumer group: instances with the same group share the partitions (a verdicts partition
    /// and the labels partition of the same number always go together).
    #[arg(
        long,
        env = "AEGIS_OUTCOMES_GROUP_ID",
        default_value = "aegis-outcomes"
    )]
    pub group_id: String,
    /// Topic of verdicts (key = account).
    #[arg(long, env = "AEGIS_VERDICTS_TOPIC", value_name = "TOPIC", default_value = VERDICTS_TOPIC)]
    pub verdicts_topic: String,
    /// Topic of labels (key = account; as many partitions as the verdicts topic).
    #[arg(long, env = "AEGIS_LABELS_TOPIC", value_name = "TOPIC", default_value = LABELS_TOPIC)]
    pub labels_topic: String,
    /// Topic of the shadow model's verdicts (key = account; as many partitions as the verdicts
    /// topic): joined with the same labels and only measured — the `role="shadow"` series of the
    /// confusion counts, amounts and precision/recall; never written to the outcomes topic. While
    /// no shadow model runs, labels wait for it until --join-window and are then evicted from the
    /// shadow join (aegis_outcomes_evicted_total{role="shadow"}). `""` reads no shadow verdicts.
    #[arg(
        long,
        env = "AEGIS_SHADOW_VERDICTS_TOPIC", value_name = "TOPIC",
        default_value = SHADOW_VERDICTS_TOPIC
    )]
    pub shadow_verdicts_topic: String,
    /// Topic outcomes are written to (key = account).
    #[arg(long, env = "AEGIS_OUTCOMES_TOPIC", value_name = "TOPIC", default_value = OUTCOMES_TOPIC)]
    pub outcomes_topic: String,
    /// How long a verdict waits for its label (or a label for its verdict) before it is evicted
    /// and counted in aegis_outcomes_evicted_total{reason="window"}. Set it above the labels'
    /// delay; uncommitted waiting messages are read again after a restart, so a longer window
    /// also means a longer re-read.
    #[arg(
        long,
        env = "AEGIS_OUTCOMES_JOIN_WINDOW",
        default_value = "10m",
        value_name = "DURATION",
        value_parser = secs(1, u64::MAX)
    )]
    pub join_window: u64,
    /// Most verdicts and labels waiting at once (memory bound); beyond it the oldest is evicted
    /// and counted in aegis_outcomes_evicted_total{reason="capacity"}.
    #[arg(
        long,
        env = "AEGIS_OUTCOMES_MAX_PENDING",
        default_value_t = 1_000_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_pending: u64,
    /// How long ago (event time against the clock) a label's transaction may have happened for
    /// the label to still meet its verdict. A label that waited out --join-window without
    /// meeting its verdict is looked for in the verdicts topic from its event_time on
    /// (docs/outcomes.md, late labels): keep the verdicts topic's retention.ms at least this
    /// long. Older labels are not looked for: counted in
    /// aegis_outcomes_late_labels_total{result="beyond_horizon"} and logged; so are labels
    /// without an event_time (result="no_event_time"). `0` turns the lookups off.
    #[arg(
        long,
        env = "AEGIS_OUTCOMES_LABEL_HORIZON",
        default_value = "35d",
        value_name = "DURATION",
        value_parser = secs(0, 10 * 365 * 86_400)
    )]
    pub label_horizon: u64,
    /// How long after a transaction's event time its verdict may have been written (scoring
    /// lag): a late-label lookup stops at the first verdict written later than that.
    #[arg(
        long,
        env = "AEGIS_OUTCOMES_LATE_LABEL_MAX_LAG",
        default_value = "1h",
        value_name = "DURATION",
        value_parser = secs(1, 30 * 86_400)
    )]
    pub late_label_max_lag: u64,
    /// Most verdicts one late-label lookup reads before giving up
    /// (aegis_outcomes_late_labels_total{result="scan_limit"}).
    #[arg(
        long,
        env = "AEGIS_OUTCOMES_LATE_LABEL_MAX_SCAN",
        default_value_t = 1_000_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub late_label_max_scan: u64,
    /// The span of outcomes the precision and recall gauges are computed over.
    #[arg(
        long,
        env = "AEGIS_OUTCOMES_QUALITY_WINDOW",
        default_value = "5m",
        value_name = "DURATION",
        value_parser = secs(1, 86_400)
    )]
    pub quality_window: u64,
    /// The live precision below which the alert AegisOutcomePrecisionLow fires (exposed as
    /// aegis_outcomes_precision_floor_ratio for the rule to compare with), in [0, 1].
    #[arg(long, env = "AEGIS_OUTCOMES_PRECISION_FLOOR", default_value_t = 0.5, value_parser = fraction)]
    pub precision_floor: f64,
    /// The live recall below which the alert AegisOutcomeRecallLow fires (exposed as
    /// aegis_outcomes_recall_floor_ratio), in [0, 1].
    #[arg(long, env = "AEGIS_OUTCOMES_RECALL_FLOOR", default_value_t = 0.5, value_parser = fraction)]
    pub recall_floor: f64,
    /// k of Card Precision@k: how many of a day's most suspicious cards (the verdicts' key: the
    /// card, or PaySim's account) an investigation team checks (docs/outcomes.md).
    #[arg(
        long,
        env = "AEGIS_OUTCOMES_CARD_PRECISION_K",
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub card_precision_k: u32,
    /// Outcomes written and not yet acknowledged before intake waits.
    #[arg(
        long,
        env = "AEGIS_OUTCOMES_MAX_IN_FLIGHT",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_in_flight: u32,
    /// Address of the HTTP server: `/metrics` and `/healthz`.
    #[arg(
        long,
        env = "AEGIS_OUTCOMES_HTTP_ADDR",
        default_value = "127.0.0.1:8090"
    )]
    pub http_addr: SocketAddr,
    /// Schema Registry URL: register the outcome schema under `<outcomes-topic>-value`, write the
    /// Confluent wire format, and read verdicts and labels written with any registered schema.
    #[arg(long, env = "AEGIS_SCHEMA_REGISTRY_URL")]
    pub schema_registry_url: Option<String>,
    /// Time allowed, after SIGINT/SIGTERM, to await the outcomes in flight, flush and commit
    /// (what is not committed is read and joined again by the next run).
    #[arg(
        long = "shutdown-timeout",
        env = "AEGIS_SHUTDOWN_TIMEOUT",
        default_value = "15s",
        value_name = "DURATION",
        value_parser = secs(0, u64::MAX)
    )]
    pub shutdown_timeout_secs: u64,
    /// librdkafka properties for all clients: `-X key=value` and `--kafka-config FILE`.
    #[command(flatten)]
    pub kafka: KafkaFlags,
    /// `--topic-prefix`: applied once, by [`OutcomesConfig::apply_topic_prefix`].
    #[command(flatten)]
    pub prefix: TopicPrefix,
}

/// Flags renamed in issue 31, read for one release with a warning ([`aegis_kafka::renamed`]).
pub const RENAMED_FLAGS: &[Flag] = &[
    Flag::new("--join-window", "--join-window", Value::Seconds),
    Flag::new("--quality-window", "--quality-window", Value::Seconds),
    Flag::new("--shutdown-timeout", "--shutdown-timeout", Value::Seconds),
    Flag::new("--connect-timeout", "--connect-timeout", Value::Seconds),
];

/// Environment variables renamed in issue 31, read for one release with a warning.
pub const RENAMED_VARIABLES: &[Variable] = &[
    Variable::new(
        "AEGIS_JOIN_WINDOW",
        "AEGIS_OUTCOMES_JOIN_WINDOW",
        "--join-window",
        Value::Seconds,
    ),
    Variable::new(
        "AEGIS_MAX_PENDING",
        "AEGIS_OUTCOMES_MAX_PENDING",
        "--max-pending",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_QUALITY_WINDOW",
        "AEGIS_OUTCOMES_QUALITY_WINDOW",
        "--quality-window",
        Value::Seconds,
    ),
    Variable::new(
        "AEGIS_PRECISION_FLOOR",
        "AEGIS_OUTCOMES_PRECISION_FLOOR",
        "--precision-floor",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_RECALL_FLOOR",
        "AEGIS_OUTCOMES_RECALL_FLOOR",
        "--recall-floor",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_MAX_IN_FLIGHT",
        "AEGIS_OUTCOMES_MAX_IN_FLIGHT",
        "--max-in-flight",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_HTTP_ADDR",
        "AEGIS_OUTCOMES_HTTP_ADDR",
        "--http-addr",
        Value::Same,
    ),
    renamed::SHUTDOWN_TIMEOUT_SECONDS,
    renamed::CONNECT_TIMEOUT_SECONDS,
];

/// A number in [0, 1] (the floors' value parser).
fn fraction(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|f| (0.0..=1.0).contains(f))
        .ok_or_else(|| format!("expected a fraction in [0, 1], got {text:?}"))
}

impl OutcomesConfig {
    /// The defaults of the command line for `brokers`, for library users and tests.
    pub fn new(brokers: impl Into<String>) -> Self {
        OutcomesConfig {
            brokers: brokers.into(),
            group_id: "aegis-outcomes".to_owned(),
            verdicts_topic: VERDICTS_TOPIC.to_owned(),
            labels_topic: LABELS_TOPIC.to_owned(),
            shadow_verdicts_topic: SHADOW_VERDICTS_TOPIC.to_owned(),
            outcomes_topic: OUTCOMES_TOPIC.to_owned(),
            join_window: 600,
            max_pending: 1_000_000,
            label_horizon: 35 * 86_400,
            late_label_max_lag: 3600,
            late_label_max_scan: 1_000_000,
            quality_window: 300,
            precision_floor: 0.5,
            recall_floor: 0.5,
            card_precision_k: 100,
            max_in_flight: 10_000,
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8090)),
            schema_registry_url: None,
            shutdown_timeout_secs: 15,
            kafka: KafkaFlags::default(),
            prefix: TopicPrefix::default(),
        }
    }

    /// Puts `--topic-prefix` before every topic name and the consumer group, once, after parsing.
    pub fn apply_topic_prefix(&mut self) {
        let prefix = std::mem::take(&mut self.prefix);
        prefix.apply(&mut [
            &mut self.group_id,
            &mut self.verdicts_topic,
            &mut self.labels_topic,
            &mut self.shadow_verdicts_topic,
            &mut self.outcomes_topic,
        ]);
    }

    /// The shadow verdicts topic, unless `""` turned it off.
    pub fn shadow_verdicts(&self) -> Option<&str> {
        Some(self.shadow_verdicts_topic.as_str()).filter(|t| !t.is_empty())
    }

    /// The topics whose partitions follow the verdicts': labels, and shadow verdicts if read.
    pub fn followers(&self) -> Vec<String> {
        let mut topics = vec![self.labels_topic.clone()];
        topics.extend(self.shadow_verdicts().map(str::to_owned));
        topics
    }

    /// The join window as a duration.
    pub fn join_window(&self) -> Duration {
        Duration::from_secs(self.join_window)
    }

    /// The shutdown budget as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Outcomes {
        #[command(flatten)]
        config: super::OutcomesConfig,
        #[command(flatten)]
        connect: aegis_kafka::ConnectFlags,
    }

    #[test]
    fn the_old_spellings_point_at_flags_and_variables_of_this_command() {
        aegis_kafka::renamed::check_against(
            &Outcomes::command(),
            super::RENAMED_FLAGS,
            super::RENAMED_VARIABLES,
        )
        .unwrap();
    }

    #[test]
    fn new_has_the_command_lines_defaults() {
        let parsed = Outcomes::try_parse_from(["aegis-outcomes", "--brokers=b"])
            .unwrap_or_else(|e| panic!("{e}"));
        let defaults = super::OutcomesConfig::new("b");
        assert_eq!(format!("{:?}", parsed.config), format!("{defaults:?}"));
        assert_eq!(parsed.connect.connect_timeout_secs, 30);
    }
}
