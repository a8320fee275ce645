//! `aegis-trainer publish`: puts a model artifact on the compacted models topic, keyed by role
//! (`live` or `shadow`), where every scorer replica picks it up and swaps it in between two
//! batches, without a restart. With `--review-threshold` / `--block-threshold` it publishes the
//! same forest with other thresholds (and so another model version): how thresholds change alone.
//!
//! The artifact is checked here exactly as a replica checks it, so a file a replica would refuse
//! never reaches the topic. It travels gzip-compressed: a 100-tree forest is about 2.5 MB of JSON
//! and 0.3 MB compressed, under the 1 MB a broker accepts by default.

use std::time::Duration;

use aegis_core::rules::RuleSet;
use aegis_core::signing::{Artifact, Signed, SigningKeyFile};
use aegis_core::topics::{MODELS_TOPIC, RULES_TOPIC};
use aegis_core::{Model, Role, Thresholds};
use aegis_kafka::produce::delivered;
use aegis_kafka::renamed::{Flag, Value};
use aegis_kafka::{ClusterCheck, KafkaFlags, Settings, TopicPrefix};
use anyhow::{anyhow, Context, Result};
use clap::Args;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

/// Producer settings: reliable (`aegis_kafka::Settings::reliable_producer`), compressed, and
/// allowed a message as large as an artifact (the limit that matters is the broker's, on the
/// compressed batch).
fn producer_settings() -> Settings {
    Settings::reliable_producer()
        .set("compression.type", "gzip")
        .set("message.max.bytes", 67_108_864)
}

/// Flags of `aegis-trainer publish`.
#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Kafka bootstrap servers, e.g. `localhost:9092`.
    #[arg(long, env = "AEGIS_BROKERS")]
    pub brokers: String,
    /// The model artifact written by `aegis-trainer train`.
    #[arg(
        long,
        env = "AEGIS_TRAINER_MODEL",
        required_unless_present = "rules",
        requires = "role"
    )]
    pub model: Option<std::path::PathBuf>,
    /// `live`: every replica decides with it from its next batch. `shadow`: replicas also score
    /// every transaction with it, for comparison only.
    #[arg(long, value_name = "live|shadow")]
    pub role: Option<Role>,
    /// A rule set (JSON, docs/rules.md) to publish instead of a model, keyed by its name: every
    /// replica applies it from its next batch.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["model", "role", "review_threshold", "block_threshold"])]
    pub rules: Option<std::path::PathBuf>,
    /// The compacted topic of models replicas read (with --model).
    #[arg(long, env = "AEGIS_MODELS_TOPIC", value_name = "TOPIC", default_value = MODELS_TOPIC)]
    pub models_topic: String,
    /// The compacted topic of rule sets replicas read (with --rules).
    #[arg(long, env = "AEGIS_RULES_TOPIC", value_name = "TOPIC", default_value = RULES_TOPIC)]
    pub rules_topic: String,
    /// The old spelling of --models-topic, or of --rules-topic with --rules: read for one
    /// release, with a warning.
    #[arg(long, hide = true)]
    pub topic: Option<String>,
    /// Publish with this REVIEW threshold instead of the file's (a calibrated probability).
    #[arg(long)]
    pub review_threshold: Option<f64>,
    /// Publish with this BLOCK threshold instead of the file's (a calibrated probability).
    #[arg(long)]
    pub block_threshold: Option<f64>,
    /// Sign the record with this private key (`aegis-trainer keygen`): replicas that list its
    /// public key in `--trusted-keys` install it; without it the record is unsigned, and only
    /// replicas run with `--allow-unsigned` take it.
    #[arg(long, env = "AEGIS_TRAINER_SIGNING_KEY", value_name = "FILE")]
    pub key: Option<std::path::PathBuf>,
    /// How long to wait for the brokers and their acknowledgement.
    #[arg(
        long = "timeout",
        default_value = "30s",
        value_name = "DURATION",
        value_parser = aegis_kafka::duration::secs(1, u64::MAX)
    )]
    pub timeout_secs: u64,
    /// librdkafka properties: `-X key=value` and `--kafka-config FILE`.
    #[command(flatten)]
    pub kafka: KafkaFlags,
    /// `--topic-prefix`, before the models or rules topic.
    #[command(flatten)]
    pub prefix: TopicPrefix,
}

/// Flags whose values changed in issue 31, read for one release with a warning.
pub const RENAMED_FLAGS: &[Flag] = &[Flag::new("--timeout", "--timeout", Value::Seconds)];

impl PublishArgs {
    /// The topic to publish to: --rules-topic with --rules, else --models-topic (or the old
    /// `--topic`, with a warning), after `--topic-prefix`.
    fn topic(&self) -> String {
        let (name, flag) = if self.rules.is_some() {
            (&self.rules_topic, "--rules-topic")
        } else {
            (&self.models_topic, "--models-topic")
        };
        let name = match &self.topic {
            Some(old) => {
                eprintln!(
                    "aegis-trainer: warning: `--topic {old}` is an old spelling, read as `{flag} {old}`: \
                     write that instead (the old one goes in the next release)"
                );
                old
            }
            None => name,
        };
        self.prefix.topic(name)
    }
}

pub fn run(args: &PublishArgs) -> Result<()> {
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let signer = args
        .key
        .as_deref()
        .map(SigningKeyFile::load)
        .transpose()
        .context("--key")?;
    let unsigned = || {
        if signer.is_none() {
            eprintln!("aegis-trainer: warning: published unsigned (no --key): replicas run with --trusted-keys refuse it");
        }
    };
    if let Some(path) = &args.rules {
        let bytes = std::fs::read(path)
            .with_context(|| format!("--rules {}: cannot read it", path.display()))?;
        // Checked here exactly as a replica checks it.
        let rules =
            RuleSet::from_json(&bytes).with_context(|| format!("--rules {}", path.display()))?;
        let topic = args.topic();
        let signed = signer
            .as_ref()
            .map(|k| k.sign(Artifact::Rules, &rules.name, &bytes));
        let (partition, offset) = send(args, &topic, &rules.name, &bytes, signed, timeout)?;
        println!(
            "published rule set {} version {} ({} rules) to {topic} [partition {partition}, offset {offset}]",
            rules.name,
            rules.version,
            rules.rules.len()
        );
        unsigned();
        return Ok(());
    }
    let (Some(path), Some(role)) = (&args.model, args.role) else {
        anyhow::bail!("give --model FILE --role live|shadow, or --rules FILE");
    };
    let mut model = Model::load(path)?;
    // The scorers compute PaySim's features; a model of another spec would score nonsense, and
    // every replica would refuse it.
    model.expect_spec(path, aegis_core::spec::Spec::paysim())?;
    if args.review_threshold.is_some() || args.block_threshold.is_some() {
        let thresholds = Thresholds::new(
            args.review_threshold.unwrap_or(model.thresholds().review),
            args.block_threshold.unwrap_or(model.thresholds().block),
        )
        .context("--review-threshold / --block-threshold")?;
        model = model.with_thresholds(thresholds);
    }
    let topic = args.topic();
    let bytes = model.to_bytes();
    let signed = signer
        .as_ref()
        .map(|k| k.sign(Artifact::Model, role.as_str(), &bytes));
    let (partition, offset) = send(args, &topic, role.as_str(), &bytes, signed, timeout)?;
    println!(
        "published {} (REVIEW >= {}, BLOCK >= {}) as {} to {topic} [partition {partition}, offset {offset}], {} bytes",
        model.model_version(),
        model.thresholds().review,
        model.thresholds().block,
        role,
        bytes.len()
    );
    unsigned();
    Ok(())
}

/// Sends one record (with its signature's headers, if signed) and waits for the broker's
/// acknowledgement: (partition, offset).
fn send(
    args: &PublishArgs,
    topic: &str,
    key: &str,
    bytes: &[u8],
    signed: Option<Signed>,
    timeout: Duration,
) -> Result<(i32, i64)> {
    let properties = args.kafka.properties();
    let flag = if args.rules.is_some() {
        "--rules-topic"
    } else {
        "--models-topic"
    };
    ClusterCheck::new(&args.brokers, &properties)?.topics(&[(topic, flag)], timeout)?;
    let producer: FutureProducer = producer_settings()
        .client_config(&args.brokers, &properties)
        .create()
    .context(
        "cannot create the Kafka producer (check --brokers and the -X / --kafka-config properties)",
    )?;
    let mut record = FutureRecord::to(topic).key(key).payload(bytes);
    if let Some(signed) = &signed {
        record = record.headers(aegis_kafka::signed::headers(signed));
    }
    let delivery = producer
        .send_result(record)
        .map_err(|(e, _)| anyhow!("cannot publish to {topic}: {e}"))?;
    producer
        .flush(timeout)
        .with_context(|| format!("{topic} did not acknowledge within {timeout:?}"))?;
    futures::executor::block_on(delivered(delivery))
        .with_context(|| format!("{topic} did not take the record"))
}
