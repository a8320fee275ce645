//! The scorer's flags: every one also an `AEGIS_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use aegis_core::topics::{
    DLQ_TOPIC, MODELS_TOPIC, OUTCOMES_TOPIC, RULES_TOPIC, SHADOW_VERDICTS_TOPIC,
    STATE_CHANGELOG_TOPIC, TRANSACTIONS_TOPIC, VERDICTS_TOPIC,
};
use aegis_kafka::duration::{millis, secs};
use aegis_kafka::renamed::{self, Flag, Value, Variable};
use aegis_kafka::{KafkaFlags, TopicPrefix};
use clap::Args;

/// How to run one scorer replica.
#[derive(Args, Clone, Debug)]
pub struct ScorerConfig {
    /// Kafka bootstrap servers, e.g. `localhost:9092`.
    #[arg(long, env = "AEGIS_BROKERS")]
    pub brokers: String,
    /// Consumer group: replicas with the same group share the input partitions.
    #[arg(long, env = "AEGIS_SCORER_GROUP_ID", default_value = "aegis-scorer")]
    pub group_id: String,
    /// Topic of transactions to score.
    #[arg(long = "transactions-topic", env = "AEGIS_TRANSACTIONS_TOPIC", value_name = "TOPIC", default_value = TRANSACTIONS_TOPIC)]
    pub input_topic: String,
    /// Topic verdicts are written to (key = origin account).
    #[arg(long = "verdicts-topic", env = "AEGIS_VERDICTS_TOPIC", value_name = "TOPIC", default_value = VERDICTS_TOPIC)]
    pub output_topic: String,
    /// Topic undecodable or invalid transactions are written to, with the reason in headers.
    #[arg(long, env = "AEGIS_DLQ_TOPIC", value_name = "TOPIC", default_value = DLQ_TOPIC)]
    pub dlq_topic: String,
    /// The model artifact written by `aegis-trainer train`: the live model until the models topic
    /// holds one (then its fallback), and the way to run without that topic. Without it, the
    /// replica takes its first live model from the models topic, waiting up to --connect-timeout
    /// for one to be published there.
    #[arg(long, env = "AEGIS_SCORER_MODEL", value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Compacted topic of published models (`aegis-trainer publish`), read whole by every replica:
    /// a model published there replaces the live (or shadow) one between two batches, without a
    /// restart. `""` to score with `--model` only. `--review-threshold` / `--block-threshold`
    /// apply to the `--model` file only; a published model carries its own thresholds.
    #[arg(long, env = "AEGIS_MODELS_TOPIC", value_name = "TOPIC", default_value = MODELS_TOPIC)]
    pub models_topic: String,
    /// Topic the shadow model's verdicts are written to (key = origin account), while a shadow
    /// model is published; a shadow model is refused while this topic does not exist.
    #[arg(
        long = "shadow-verdicts-topic",
        env = "AEGIS_SHADOW_VERDICTS_TOPIC", value_name = "TOPIC",
        default_value = SHADOW_VERDICTS_TOPIC
    )]
    pub shadow_topic: String,
    /// Address of the HTTP server: metrics, health, scoring API, API docs, live page.
    #[arg(long, env = "AEGIS_SCORER_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Schema Registry URL (e.g. Redpanda's `http://redpanda:8081`): register the schemas and use
    /// the Confluent wire format, so Console and `kcat -s value=avro` decode the topics.
    #[arg(long, env = "AEGIS_SCHEMA_REGISTRY_URL")]
    pub schema_registry_url: Option<String>,
    /// Override the --model file's REVIEW threshold (a fraud probability in [0, 1]).
    #[arg(long, env = "AEGIS_SCORER_REVIEW_THRESHOLD", requires = "model")]
    pub review_threshold: Option<f64>,
    /// Override the --model file's BLOCK threshold (a fraud probability in [0, 1]).
    #[arg(long, env = "AEGIS_SCORER_BLOCK_THRESHOLD", requires = "model")]
    pub block_threshold: Option<f64>,
    /// A rule set (JSON, see docs/rules.md; the seed is deploy/rules/default.json) applied beside
    /// the model: a fired rule can escalate the decision and is listed on the verdict.
    #[arg(long, env = "AEGIS_SCORER_RULES", value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Public keys (PEM, one block each; `aegis-trainer keygen` writes them) whose signatures make a
    /// record of the models or rules topic installable. Several keys: rotation. Unsigned records,
    /// unknown signers and bad signatures are refused, counted, and the model or rules in use stay.
    #[arg(long, env = "AEGIS_SCORER_TRUSTED_KEYS", value_name = "FILE")]
    pub trusted_keys: Option<PathBuf>,
    /// Also install unsigned records of the models and rules topics: local development only
    /// (anyone who can write to those topics then decides). The replica warns when it is on.
    #[arg(long, env = "AEGIS_SCORER_ALLOW_UNSIGNED")]
    pub allow_unsigned: bool,
    /// Compacted topic of rule sets (key = name, value = JSON), read whole by every replica: a
    /// rule set published there replaces `--rules` between two batches, without a restart. `""`
    /// to use `--rules` only.
    #[arg(long, env = "AEGIS_RULES_TOPIC", value_name = "TOPIC", default_value = RULES_TOPIC)]
    pub rules_topic: String,
    /// Most origin accounts whose history a replica keeps per input partition; the least recently
    /// seen is forgotten first.
    #[arg(long, env = "AEGIS_SCORER_STATE_MAX_ACCOUNTS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub state_max_accounts: u64,
    /// Compacted topic the account states are kept in (partition p for input partition p), and
    /// restored from when a partition is assigned; `""` keeps state in memory only (lost on a
    /// crash or a rebalance).
    #[arg(long, env = "AEGIS_STATE_CHANGELOG_TOPIC", value_name = "TOPIC", default_value = STATE_CHANGELOG_TOPIC)]
    pub state_changelog_topic: String,
    /// Longest wait for a batch of account states to fill before it is sent to the changelog. States have a producer of their own, beside the verdicts': fewer, larger
    /// requests, and a verdict never waits behind them. A batch's offsets are stored once its
    /// verdicts and its states are both acknowledged.
    #[arg(
        long = "state-linger",
        env = "AEGIS_SCORER_STATE_LINGER",
        default_value = "100ms",
        value_name = "DURATION",
        value_parser = millis(0, 60_000)
    )]
    pub state_linger_ms: u64,
    /// How long (in event time) an account not seen again is remembered; then it is forgotten.
    #[arg(
        long = "state-ttl",
        env = "AEGIS_SCORER_STATE_TTL",
        default_value = "1d",
        value_name = "DURATION",
        value_parser = secs(0, u64::MAX)
    )]
    pub state_ttl_secs: u64,
    /// How long a replica may take to restore one partition's account states from the changelog
    /// when it is assigned the partition; past it the replica stops with one line (raise this,
    /// or let the changelog compact: docs/state.md says where the limit lies).
    #[arg(
        long = "state-restore-timeout",
        env = "AEGIS_SCORER_STATE_RESTORE_TIMEOUT",
        default_value = "1m",
        value_name = "DURATION",
        value_parser = secs(1, u64::MAX)
    )]
    pub state_restore_timeout_secs: u64,
    /// How far a transaction's event time may be ahead of this replica's clock:
    /// beyond it, the transaction is a dead letter (reason `event_time`; so is one dated before
    /// 1970). One that far ahead of its partition's clock (while within this of the wall
    /// clock's) is scored but neither remembered nor moving the partition's clock.
    #[arg(
        long = "max-clock-skew",
        env = "AEGIS_SCORER_MAX_CLOCK_SKEW",
        default_value = "5m",
        value_name = "DURATION",
        value_parser = secs(1, 31_536_000)
    )]
    pub max_clock_skew_secs: u64,
    /// Most transactions scored together.
    #[arg(long, env = "AEGIS_SCORER_BATCH_SIZE", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,
    /// Longest wait for a batch to fill once its first transaction arrived.
    #[arg(
        long = "batch-linger",
        env = "AEGIS_SCORER_BATCH_LINGER",
        default_value = "2ms",
        value_name = "DURATION",
        value_parser = millis(0, u64::MAX)
    )]
    pub batch_linger_ms: u64,
    /// Batches in flight (scored, awaiting broker acknowledgement) before intake waits.
    #[arg(long, env = "AEGIS_SCORER_MAX_IN_FLIGHT", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_in_flight: u32,
    /// Time allowed, after SIGINT/SIGTERM, to drain, flush and commit before giving up (and
    /// exiting with an error: whatever was not committed is scored again by the next replica).
    #[arg(
        long = "shutdown-timeout",
        env = "AEGIS_SHUTDOWN_TIMEOUT",
        default_value = "15s",
        value_name = "DURATION",
        value_parser = secs(0, u64::MAX)
    )]
    pub shutdown_timeout_secs: u64,
    /// What the live page (`GET /`) shows: `own` — the verdicts this replica writes (no extra
    /// broker load); `all` — every replica's verdicts, by reading the verdicts topic back (one
    /// extra read of the whole verdict stream per replica: right for a demo, costly at scale).
    #[arg(long, env = "AEGIS_SCORER_LIVE_VIEW", value_enum, default_value_t = LiveView::Own)]
    pub live_view: LiveView,
    /// Topic of outcomes (verdicts joined with their labels by `aegis-outcomes`) that the live
    /// page reads with `--live-view all`, to show precision, recall and money stopped; `""` for
    /// none.
    #[arg(long, env = "AEGIS_OUTCOMES_TOPIC", value_name = "TOPIC", default_value = OUTCOMES_TOPIC)]
    pub outcomes_topic: String,
    /// How the HTTP server holds up under abuse, and who may read what.
    #[command(flatten)]
    pub http: HttpFlags,
    /// librdkafka properties for all clients: `-X key=value` and `--kafka-config FILE`.
    #[command(flatten)]
    pub kafka: KafkaFlags,
    /// The stream on a spec other than PaySim (a model trained with `--spec`).
    #[command(flatten)]
    pub entities: crate::entities::EntityFlags,
    /// `--topic-prefix`: applied once, by [`ScorerConfig::apply_topic_prefix`].
    #[command(flatten)]
    pub prefix: TopicPrefix,
}

/// Flags renamed in issue 31, read for one release with a warning ([`aegis_kafka::renamed`]).
pub const RENAMED_FLAGS: &[Flag] = &[
    Flag::new("--input-topic", "--transactions-topic", Value::Same),
    Flag::new("--output-topic", "--verdicts-topic", Value::Same),
    Flag::new("--shadow-topic", "--shadow-verdicts-topic", Value::Same),
    Flag::new("--state-linger-ms", "--state-linger", Value::Millis),
    Flag::new("--batch-linger-ms", "--batch-linger", Value::Millis),
    Flag::new(
        "--http-read-timeout-secs",
        "--http-read-timeout",
        Value::Seconds,
    ),
    Flag::new("--idle-after-ms", "--idle-after", Value::Millis),
    Flag::new(
        "--entity-restore-timeout-secs",
        "--entity-restore-timeout",
        Value::Seconds,
    ),
    Flag::new("--state-ttl", "--state-ttl", Value::Seconds),
    Flag::new(
        "--state-restore-timeout",
        "--state-restore-timeout",
        Value::Seconds,
    ),
    Flag::new("--max-clock-skew", "--max-clock-skew", Value::Seconds),
    Flag::new("--shutdown-timeout", "--shutdown-timeout", Value::Seconds),
    Flag::new("--connect-timeout", "--connect-timeout", Value::Seconds),
];

/// Environment variables renamed in issue 31, read for one release with a warning.
pub const RENAMED_VARIABLES: &[Variable] = &[
    Variable::new(
        "AEGIS_GROUP_ID",
        "AEGIS_SCORER_GROUP_ID",
        "--group-id",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_INPUT_TOPIC",
        "AEGIS_TRANSACTIONS_TOPIC",
        "--transactions-topic",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_OUTPUT_TOPIC",
        "AEGIS_VERDICTS_TOPIC",
        "--verdicts-topic",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_SHADOW_TOPIC",
        "AEGIS_SHADOW_VERDICTS_TOPIC",
        "--shadow-verdicts-topic",
        Value::Same,
    ),
    Variable::new("AEGIS_MODEL", "AEGIS_SCORER_MODEL", "--model", Value::Same),
    Variable::new(
        "AEGIS_HTTP_ADDR",
        "AEGIS_SCORER_HTTP_ADDR",
        "--http-addr",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_REVIEW_THRESHOLD",
        "AEGIS_SCORER_REVIEW_THRESHOLD",
        "--review-threshold",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_BLOCK_THRESHOLD",
        "AEGIS_SCORER_BLOCK_THRESHOLD",
        "--block-threshold",
        Value::Same,
    ),
    Variable::new("AEGIS_RULES", "AEGIS_SCORER_RULES", "--rules", Value::Same),
    Variable::new(
        "AEGIS_TRUSTED_KEYS",
        "AEGIS_SCORER_TRUSTED_KEYS",
        "--trusted-keys",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_ALLOW_UNSIGNED",
        "AEGIS_SCORER_ALLOW_UNSIGNED",
        "--allow-unsigned",
        Value::Switch,
    ),
    Variable::new(
        "AEGIS_STATE_MAX_ACCOUNTS",
        "AEGIS_SCORER_STATE_MAX_ACCOUNTS",
        "--state-max-accounts",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_STATE_LINGER_MS",
        "AEGIS_SCORER_STATE_LINGER",
        "--state-linger",
        Value::Millis,
    ),
    Variable::new(
        "AEGIS_STATE_TTL",
        "AEGIS_SCORER_STATE_TTL",
        "--state-ttl",
        Value::Seconds,
    ),
    Variable::new(
        "AEGIS_STATE_RESTORE_TIMEOUT",
        "AEGIS_SCORER_STATE_RESTORE_TIMEOUT",
        "--state-restore-timeout",
        Value::Seconds,
    ),
    Variable::new(
        "AEGIS_MAX_CLOCK_SKEW",
        "AEGIS_SCORER_MAX_CLOCK_SKEW",
        "--max-clock-skew",
        Value::Seconds,
    ),
    Variable::new(
        "AEGIS_BATCH_SIZE",
        "AEGIS_SCORER_BATCH_SIZE",
        "--batch-size",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_BATCH_LINGER_MS",
        "AEGIS_SCORER_BATCH_LINGER",
        "--batch-linger",
        Value::Millis,
    ),
    Variable::new(
        "AEGIS_MAX_IN_FLIGHT",
        "AEGIS_SCORER_MAX_IN_FLIGHT",
        "--max-in-flight",
        Value::Same,
    ),
    renamed::SHUTDOWN_TIMEOUT_SECONDS,
    renamed::CONNECT_TIMEOUT_SECONDS,
    Variable::new(
        "AEGIS_LIVE_VIEW",
        "AEGIS_SCORER_LIVE_VIEW",
        "--live-view",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_HTTP_MAX_CONNECTIONS",
        "AEGIS_SCORER_HTTP_MAX_CONNECTIONS",
        "--http-max-connections",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_HTTP_MAX_IN_FLIGHT",
        "AEGIS_SCORER_HTTP_MAX_IN_FLIGHT",
        "--http-max-in-flight",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_HTTP_READ_TIMEOUT_SECS",
        "AEGIS_SCORER_HTTP_READ_TIMEOUT",
        "--http-read-timeout",
        Value::Seconds,
    ),
    Variable::new(
        "AEGIS_API_TOKEN_FILE",
        "AEGIS_SCORER_API_TOKEN_FILE",
        "--api-token-file",
        Value::Same,
    ),
    Variable::new(
        "AEGIS_LIVE_SHOW_IDS",
        "AEGIS_SCORER_LIVE_SHOW_IDS",
        "--live-show-ids",
        Value::Switch,
    ),
    Variable::new(
        "AEGIS_IDLE_AFTER_MS",
        "AEGIS_SCORER_IDLE_AFTER",
        "--idle-after",
        Value::Millis,
    ),
    Variable::new(
        "AEGIS_ENTITY_RESTORE_TIMEOUT",
        "AEGIS_SCORER_ENTITY_RESTORE_TIMEOUT",
        "--entity-restore-timeout",
        Value::Seconds,
    ),
];

/// The HTTP server's limits and access (docs/api.md, *Limits and access*).
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct HttpFlags {
    /// Most HTTP connections open at once: one more is answered 503 with `Retry-After` and
    /// closed. Each costs at most a 64 KiB buffer for its request head.
    #[arg(
        id = "http_max_connections",
        long = "http-max-connections",
        env = "AEGIS_SCORER_HTTP_MAX_CONNECTIONS",
        default_value_t = 512,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub max_connections: u32,
    /// Most HTTP requests being read or answered at once (`/healthz`, `/readyz` and `/metrics`
    /// aside, which read no body): one more is answered 503 with `Retry-After`. Each may hold a
    /// body of up to 4 MiB, so this bounds the memory bodies take.
    #[arg(
        id = "http_max_in_flight",
        long = "http-max-in-flight",
        env = "AEGIS_SCORER_HTTP_MAX_IN_FLIGHT",
        default_value_t = 32,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub max_in_flight: u32,
    /// Time a client has to send a request's head (and, on an idle keep-alive connection, to
    /// start the next one; then the connection is closed), and again to send its body (then 408);
    /// also the longest the server waits for a client to take any of its answer.
    #[arg(
        id = "http_read_timeout",
        long = "http-read-timeout",
        env = "AEGIS_SCORER_HTTP_READ_TIMEOUT",
        default_value = "10s",
        value_name = "DURATION",
        value_parser = secs(1, 3_600)
    )]
    pub read_timeout_secs: u64,
    /// Bearer tokens, one a line (`#` comments; at least 16 characters each, e.g. `openssl rand
    /// -hex 32`; several: rotation). When given, `POST /v1/score`, `GET /api/live` and `GET
    /// /v1/model` need `Authorization: Bearer <token>` (401 otherwise); `/healthz`, `/readyz`,
    /// `/metrics`, the pages and the API document stay open.
    #[arg(long, env = "AEGIS_SCORER_API_TOKEN_FILE", value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,
    /// Show whole account ids on the live page (`GET /api/live`); by default only their last
    /// four characters are shown.
    #[arg(long, env = "AEGIS_SCORER_LIVE_SHOW_IDS")]
    pub live_show_ids: bool,
}

impl Default for HttpFlags {
    /// The flags' defaults.
    fn default() -> Self {
        HttpFlags {
            max_connections: 512,
            max_in_flight: 32,
            read_timeout_secs: 10,
            api_token_file: None,
            live_show_ids: false,
        }
    }
}

/// Where the live page's verdicts come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LiveView {
    /// The verdicts this replica writes, as the broker acknowledges them.
    Own,
    /// Every replica's verdicts, read back from the verdicts topic.
    All,
}

impl ScorerConfig {
    /// Puts `--topic-prefix` before every topic name and the consumer group, once, after parsing:
    /// from then on each name is the one on the cluster, and the topics derived from them (a
    /// spec's repartition topics, `<transactions>.by.<ENTITY>`) carry the prefix too.
    pub fn apply_topic_prefix(&mut self) {
        let prefix = std::mem::take(&mut self.prefix);
        prefix.apply(&mut [
            &mut self.group_id,
            &mut self.input_topic,
            &mut self.output_topic,
            &mut self.dlq_topic,
            &mut self.models_topic,
            &mut self.shadow_topic,
            &mut self.rules_topic,
            &mut self.state_changelog_topic,
            &mut self.outcomes_topic,
            &mut self.entities.labels_topic,
        ]);
    }

    /// `--max-clock-skew` in milliseconds.
    pub fn max_clock_skew_ms(&self) -> i64 {
        i64::try_from(self.max_clock_skew_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// The batch linger as a duration.
    pub fn batch_linger(&self) -> Duration {
        Duration::from_millis(self.batch_linger_ms)
    }

    /// The shutdown budget as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::HttpFlags;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        http: HttpFlags,
    }

    /// The scorer's command line (as `main.rs` has it, logs aside).
    #[derive(Parser)]
    struct Scorer {
        #[command(flatten)]
        config: super::ScorerConfig,
        #[command(flatten)]
        connect: aegis_kafka::ConnectFlags,
    }

    #[test]
    fn every_flag_has_a_name_of_its_own() {
        // Panics naming the clash (two fields called `max_in_flight`, say).
        use clap::CommandFactory;
        Scorer::command().debug_assert();
    }

    #[test]
    fn the_old_spellings_point_at_flags_and_variables_of_this_command() {
        use clap::CommandFactory;
        let command = Scorer::command();
        aegis_kafka::renamed::check_against(
            &command,
            super::RENAMED_FLAGS,
            super::RENAMED_VARIABLES,
        )
        .unwrap();
    }

    #[test]
    fn the_topic_prefix_goes_before_every_topic_and_the_group() {
        let mut config = Scorer::try_parse_from([
            "aegis-scorer",
            "--brokers=b",
            "--topic-prefix=staging.",
            "--rules-topic=",
        ])
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
        config.apply_topic_prefix();
        let names = [
            &config.group_id,
            &config.input_topic,
            &config.output_topic,
            &config.dlq_topic,
            &config.models_topic,
            &config.shadow_topic,
            &config.state_changelog_topic,
            &config.outcomes_topic,
            &config.entities.labels_topic,
        ];
        let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "staging.aegis-scorer",
                "staging.transactions",
                "staging.verdicts",
                "staging.transactions.dlq",
                "staging.models",
                "staging.verdicts.shadow",
                "staging.scorer.state",
                "staging.outcomes",
                "staging.labels",
            ]
        );
        assert_eq!(config.rules_topic, "", "a topic turned off stays off");
        config.apply_topic_prefix();
        assert_eq!(config.input_topic, "staging.transactions", "applied once");
    }

    #[test]
    fn http_flags_default_as_the_command_line_does() {
        let parsed = Cli::try_parse_from(["aegis-scorer"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.http, HttpFlags::default());
    }
}
