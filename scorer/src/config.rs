//! The scorer's flags: every one also an `AEGIS_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use aegis_core::topics::{
    DLQ_TOPIC, MODELS_TOPIC, OUTCOMES_TOPIC, RULES_TOPIC, SHADOW_VERDICTS_TOPIC,
    STATE_CHANGELOG_TOPIC, TRANSACTIONS_TOPIC, VERDICTS_TOPIC,
};
use aegis_kafka::KafkaFlags;
use clap::Args;

/// How to run one scorer replica.
#[derive(Args, Clone, Debug)]
pub struct ScorerConfig {
    /// Kafka bootstrap servers, e.g. `localhost:9092`.
    #[arg(long, env = "AEGIS_BROKERS")]
    pub brokers: String,
    /// Consumer group: replicas with the same group share the input partitions.
    #[arg(long, env = "AEGIS_GROUP_ID", default_value = "aegis-scorer")]
    pub group_id: String,
    /// Topic of transactions to score.
    #[arg(long, env = "AEGIS_INPUT_TOPIC", default_value = TRANSACTIONS_TOPIC)]
    pub input_topic: String,
    /// Topic verdicts are written to (key = origin account).
    #[arg(long, env = "AEGIS_OUTPUT_TOPIC", default_value = VERDICTS_TOPIC)]
    pub output_topic: String,
    /// Topic undecodable or invalid transactions are written to, with the reason in headers.
    #[arg(long, env = "AEGIS_DLQ_TOPIC", default_value = DLQ_TOPIC)]
    pub dlq_topic: String,
    /// The model artifact written by `aegis-trainer train`: the live model until the models topic
    /// holds one (then its fallback), and the way to run without that topic.
    #[arg(long, env = "AEGIS_MODEL")]
    pub model: PathBuf,
    /// Compacted topic of published models (`aegis-trainer publish`), read whole by every replica:
    /// a model published there replaces the live (or shadow) one between two batches, without a
    /// restart. `""` to score with `--model` only. `--review-threshold` / `--block-threshold`
    /// apply to the `--model` file only; a published model carries its own thresholds.
    #[arg(long, env = "AEGIS_MODELS_TOPIC", default_value = MODELS_TOPIC)]
    pub models_topic: String,
    /// Topic the shadow model's verdicts are written to (key = origin account), while a shadow
    /// model is published; a shadow model is refused while this topic does not exist.
    #[arg(long, env = "AEGIS_SHADOW_TOPIC", default_value = SHADOW_VERDICTS_TOPIC)]
    pub shadow_topic: String,
    /// Address of the HTTP server: metrics, health, scoring API, API docs, live page.
    #[arg(long, env = "AEGIS_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Schema Registry URL (e.g. Redpanda's `http://redpanda:8081`): register the schemas and use
    /// the Confluent wire format, so Console and `kcat -s value=avro` decode the topics.
    #[arg(long, env = "AEGIS_SCHEMA_REGISTRY_URL")]
    pub schema_registry_url: Option<String>,
    /// Override the model's REVIEW threshold (a fraud probability in [0, 1]).
    #[arg(long, env = "AEGIS_REVIEW_THRESHOLD")]
    pub review_threshold: Option<f64>,
    /// Override the model's BLOCK threshold (a fraud probability in [0, 1]).
    #[arg(long, env = "AEGIS_BLOCK_THRESHOLD")]
    pub block_threshold: Option<f64>,
    /// A rule set (JSON, see docs/rules.md; the seed is deploy/rules/default.json) applied beside
    /// the model: a fired rule can escalate the decision and is listed on the verdict.
    #[arg(long, env = "AEGIS_RULES", value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Public keys (PEM, one block each; `aegis-trainer keygen` writes them) whose signatures make a
    /// record of the models or rules topic installable. Several keys: rotation. Unsigned records,
    /// unknown signers and bad signatures are refused, counted, and the model or rules in use stay.
    #[arg(long, env = "AEGIS_TRUSTED_KEYS", value_name = "FILE")]
    pub trusted_keys: Option<PathBuf>,
    /// Also install unsigned records of the models and rules topics: local development only
    /// (anyone who can write to those topics then decides). The replica warns when it is on.
    #[arg(long, env = "AEGIS_ALLOW_UNSIGNED")]
    pub allow_unsigned: bool,
    /// Compacted topic of rule sets (key = name, value = JSON), read whole by every replica: a
    /// rule set published there replaces `--rules` between two batches, without a restart. `""`
    /// to use `--rules` only.
    #[arg(long, env = "AEGIS_RULES_TOPIC", default_value = RULES_TOPIC)]
    pub rules_topic: String,
    /// Most origin accounts whose history a replica keeps per input partition; the least recently
    /// seen is forgotten first.
    #[arg(long, env = "AEGIS_STATE_MAX_ACCOUNTS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub state_max_accounts: u64,
    /// Compacted topic the account states are kept in (partition p for input partition p), and
    /// restored from when a partition is assigned; `""` keeps state in memory only (lost on a
    /// crash or a rebalance).
    #[arg(long, env = "AEGIS_STATE_CHANGELOG_TOPIC", default_value = STATE_CHANGELOG_TOPIC)]
    pub state_changelog_topic: String,
    /// Longest wait, in milliseconds, for a batch of account states to fill before it is sent to
    /// the changelog. States have a producer of their own, beside the verdicts': fewer, larger
    /// requests, and a verdict never waits behind them. A batch's offsets are stored once its
    /// verdicts and its states are both acknowledged.
    #[arg(long, env = "AEGIS_STATE_LINGER_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub state_linger_ms: u64,
    /// Seconds (of event time) after which an account not seen again is forgotten.
    #[arg(
        long = "state-ttl",
        env = "AEGIS_STATE_TTL",
        default_value_t = 86_400,
        value_name = "SECONDS"
    )]
    pub state_ttl_secs: u64,
    /// Seconds a replica may take to restore one partition's account states from the changelog
    /// when it is assigned the partition; past it the replica stops with one line (raise this,
    /// or let the changelog compact: docs/state.md says where the limit lies).
    #[arg(
        long = "state-restore-timeout",
        env = "AEGIS_STATE_RESTORE_TIMEOUT",
        default_value_t = 60,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub state_restore_timeout_secs: u64,
    /// How far, in seconds, a transaction's event time may be ahead of this replica's clock:
    /// beyond it, the transaction is a dead letter (reason `event_time`; so is one dated before
    /// 1970). One that far ahead of its partition's clock (while within this of the wall
    /// clock's) is scored but neither remembered nor moving the partition's clock.
    #[arg(
        long = "max-clock-skew",
        env = "AEGIS_MAX_CLOCK_SKEW",
        default_value_t = 300,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=31_536_000)
    )]
    pub max_clock_skew_secs: u64,
    /// Most transactions scored together.
    #[arg(long, env = "AEGIS_BATCH_SIZE", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,
    /// Longest wait, in milliseconds, for a batch to fill once its first transaction arrived.
    #[arg(long, env = "AEGIS_BATCH_LINGER_MS", default_value_t = 2)]
    pub batch_linger_ms: u64,
    /// Batches in flight (scored, awaiting broker acknowledgement) before intake waits.
    #[arg(long, env = "AEGIS_MAX_IN_FLIGHT", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_in_flight: u32,
    /// Seconds allowed, after SIGINT/SIGTERM, to drain, flush and commit before giving up (and
    /// exiting with an error: whatever was not committed is scored again by the next replica).
    #[arg(
        long = "shutdown-timeout",
        env = "AEGIS_SHUTDOWN_TIMEOUT",
        default_value_t = 15,
        value_name = "SECONDS"
    )]
    pub shutdown_timeout_secs: u64,
    /// What the live page (`GET /`) shows: `own` — the verdicts this replica writes (no extra
    /// broker load); `all` — every replica's verdicts, by reading the verdicts topic back (one
    /// extra read of the whole verdict stream per replica: right for a demo, costly at scale).
    #[arg(long, env = "AEGIS_LIVE_VIEW", value_enum, default_value_t = LiveView::Own)]
    pub live_view: LiveView,
    /// Topic of outcomes (verdicts joined with their labels by `aegis-outcomes`) that the live
    /// page reads with `--live-view all`, to show precision, recall and money stopped; `""` for
    /// none.
    #[arg(long, env = "AEGIS_OUTCOMES_TOPIC", default_value = OUTCOMES_TOPIC)]
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
}

/// The HTTP server's limits and access (docs/api.md, *Limits and access*).
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct HttpFlags {
    /// Most HTTP connections open at once: one more is answered 503 with `Retry-After` and
    /// closed. Each costs at most a 64 KiB buffer for its request head.
    #[arg(
        id = "http_max_connections",
        long = "http-max-connections",
        env = "AEGIS_HTTP_MAX_CONNECTIONS",
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
        env = "AEGIS_HTTP_MAX_IN_FLIGHT",
        default_value_t = 32,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub max_in_flight: u32,
    /// Seconds a client has to send a request's head (and, on an idle keep-alive connection, to
    /// start the next one; then the connection is closed), and again to send its body (then 408);
    /// also the longest the server waits for a client to take any of its answer.
    #[arg(
        id = "http_read_timeout_secs",
        long = "http-read-timeout-secs",
        env = "AEGIS_HTTP_READ_TIMEOUT_SECS",
        default_value_t = 10,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=3_600)
    )]
    pub read_timeout_secs: u64,
    /// Bearer tokens, one a line (`#` comments; at least 16 characters each, e.g. `openssl rand
    /// -hex 32`; several: rotation). When given, `POST /v1/score`, `GET /api/live` and `GET
    /// /v1/model` need `Authorization: Bearer <token>` (401 otherwise); `/healthz`, `/readyz`,
    /// `/metrics`, the pages and the API document stay open.
    #[arg(long, env = "AEGIS_API_TOKEN_FILE", value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,
    /// Show whole account ids on the live page (`GET /api/live`); by default only their last
    /// four characters are shown.
    #[arg(long, env = "AEGIS_LIVE_SHOW_IDS")]
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

    #[derive(Parser)]
    struct Scorer {
        #[command(flatten)]
        config: super::ScorerConfig,
    }

    #[test]
    fn every_flag_has_a_name_of_its_own() {
        // Panics naming the clash (two fields called `max_in_flight`, say).
        use clap::CommandFactory;
        Scorer::command().debug_assert();
    }

    #[test]
    fn http_flags_default_as_the_command_line_does() {
        let parsed = Cli::try_parse_from(["aegis-scorer"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.http, HttpFlags::default());
    }
}
