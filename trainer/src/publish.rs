//! `aegis-trainer publish`: puts a model artifact on the compacted models topic, keyed by role
//! (`live` or `shadow`), where every scorer replica picks it up and swaps it in between two
//! batches, without a restart. With `--review-threshold` / `--block-threshold` it publishes the
//! same forest with other thresholds (and so another model version): how thresholds change alone.
//! Each model also goes under its history key (`history/<role>/<version>`, [`ModelKey`]), which
//! replicas list and never install: the version history `promote` and `rollback` read
//! (`crate::promote`). [`Publisher`] and [`ModelsTopicArgs`] are what the three commands share.
//!
//! The artifact is checked here exactly as a replica checks it, so a file a replica would refuse
//! never reaches the topic. It travels gzip-compressed: a 100-tree forest is about 2.5 MB of JSON
//! and 0.3 MB compressed, under the 1 MB a broker accepts by default.

use std::time::Duration;

use aegis_core::rules::RuleSet;
use aegis_core::signing::{Artifact, SigningKeyFile};
use aegis_core::spec::Spec;
use aegis_core::topics::{MODELS_TOPIC, RULES_TOPIC};
use aegis_core::{Model, ModelKey, Role, Thresholds};
use aegis_kafka::produce::delivered;
use aegis_kafka::renamed::{Flag, Value};
use aegis_kafka::{ClusterCheck, KafkaFlags, Settings, TopicPrefix};
use anyhow::{anyhow, Context, Result};
use clap::Args;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

/// Producer settings: reliable (`aegis_kafka::Settings::reliable_producer`), compressed, and
/// allowed a message as large as an artifact (the limit that matters is the broker's, on the
/// compressed batch).
fn producer_settings() -> Settings {
    Settings::reliable_producer()
        .set("compression.type", "gzip")
        .set("message.max.bytes", 67_108_864)
}

/// Where models go and how they are signed: the flags `publish`, `promote` and `rollback` share.
#[derive(Args, Debug)]
pub struct ModelsTopicArgs {
    /// Kafka bootstrap servers, e.g. `localhost:9092`.
    #[arg(long, env = "AEGIS_BROKERS")]
    pub brokers: String,
    /// The compacted topic of models every replica reads (with --model, and what promote and
    /// rollback read and write).
    #[arg(long, env = "AEGIS_MODELS_TOPIC", value_name = "TOPIC", default_value = MODELS_TOPIC)]
    pub models_topic: String,
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

impl ModelsTopicArgs {
    /// The flags' defaults, with `brokers` and the models topic `models_topic` (no prefix).
    pub fn new(brokers: String, models_topic: String) -> ModelsTopicArgs {
        ModelsTopicArgs {
            brokers,
            models_topic,
            key: None,
            timeout_secs: 30,
            kafka: KafkaFlags::default(),
            prefix: TopicPrefix::default(),
        }
    }

    /// How long to wait for the brokers.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }

    /// `--key`, read; `None` without it.
    pub fn signer(&self) -> Result<Option<SigningKeyFile>> {
        self.key
            .as_deref()
            .map(SigningKeyFile::load)
            .transpose()
            .context("--key")
    }
}

/// Flags of `aegis-trainer publish`.
#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Brokers, the models topic, the signing key.
    #[command(flatten)]
    pub target: ModelsTopicArgs,
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
    /// With --rules: the spec its conditions are read against — that of the model the scorers
    /// run (docs/rules.md); PaySim's when not given.
    #[arg(
        long,
        env = "AEGIS_TRAINER_SPEC",
        value_name = "FILE",
        requires = "rules"
    )]
    pub spec: Option<std::path::PathBuf>,
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
}

impl PublishArgs {
    /// `publish --model MODEL --role ROLE` with every other flag at its default.
    pub fn model(target: ModelsTopicArgs, model: std::path::PathBuf, role: Role) -> PublishArgs {
        PublishArgs {
            target,
            model: Some(model),
            role: Some(role),
            rules: None,
            spec: None,
            rules_topic: RULES_TOPIC.to_owned(),
            topic: None,
            review_threshold: None,
            block_threshold: None,
        }
    }
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
            (&self.target.models_topic, "--models-topic")
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
        self.target.prefix.topic(name)
    }
}

pub fn run(args: &PublishArgs) -> Result<()> {
    let signer = args.target.signer()?;
    if let Some(path) = &args.rules {
        let bytes = std::fs::read(path)
            .with_context(|| format!("--rules {}: cannot read it", path.display()))?;
        // Checked here exactly as a replica checks it, against its model's spec.
        let spec = match &args.spec {
            Some(file) => Spec::load(file).with_context(|| format!("--spec {}", file.display()))?,
            None => Spec::paysim().clone(),
        };
        let rules = RuleSet::from_json_for(&bytes, &spec)
            .with_context(|| format!("--rules {}", path.display()))?;
        let topic = args.topic();
        let publisher = Publisher::connect(&args.target, &topic, "--rules-topic", signer)?;
        let (partition, offset) = publisher.send(Artifact::Rules, &rules.name, &bytes, None)?;
        println!(
            "published rule set {} version {} ({} rules) to {topic} [partition {partition}, offset {offset}]",
            rules.name,
            rules.version,
            rules.rules.len()
        );
        publisher.warn_if_unsigned();
        return Ok(());
    }
    let (Some(path), Some(role)) = (&args.model, args.role) else {
        anyhow::bail!("give --model FILE --role live|shadow, or --rules FILE");
    };
    // A model of any spec: it carries its spec, and a replica refuses one of another spec than
    // the model it runs (a card model on a PaySim stream would score nonsense).
    let mut model = Model::load(path)?;
    if args.review_threshold.is_some() || args.block_threshold.is_some() {
        let thresholds = Thresholds::new(
            args.review_threshold.unwrap_or(model.thresholds().review),
            args.block_threshold.unwrap_or(model.thresholds().block),
        )
        .context("--review-threshold / --block-threshold")?;
        model = model.with_thresholds(thresholds);
    }
    let topic = args.topic();
    let publisher = Publisher::connect(&args.target, &topic, "--models-topic", signer)?;
    let bytes = model.to_bytes();
    let (partition, offset) = publisher.publish_model(role, &model, &bytes, "publish")?;
    println!(
        "published {} (REVIEW >= {}, BLOCK >= {}) as {} to {topic} [partition {partition}, offset {offset}], {} bytes",
        model.model_version(),
        model.thresholds().review,
        model.thresholds().block,
        role,
        bytes.len()
    );
    publisher.warn_if_unsigned();
    Ok(())
}

/// A producer on the models (or rules) topic that signs what it sends (with `--key`) and waits
/// for the broker's acknowledgement of each record.
pub struct Publisher {
    producer: FutureProducer,
    topic: String,
    signer: Option<SigningKeyFile>,
    timeout: Duration,
}

impl Publisher {
    /// Checks that `topic` (named by `flag`) exists, then connects.
    pub fn connect(
        args: &ModelsTopicArgs,
        topic: &str,
        flag: &str,
        signer: Option<SigningKeyFile>,
    ) -> Result<Publisher> {
        let properties = args.kafka.properties();
        let timeout = args.timeout();
        ClusterCheck::new(&args.brokers, &properties)?.topics(&[(topic, flag)], timeout)?;
        let producer: FutureProducer = producer_settings()
            .client_config(&args.brokers, &properties)
            .create()
            .context(
                "cannot create the Kafka producer (check --brokers and the -X / --kafka-config properties)",
            )?;
        Ok(Publisher {
            producer,
            topic: topic.to_owned(),
            signer,
            timeout,
        })
    }

    /// The key that signs, if any.
    pub fn signer(&self) -> Option<&SigningKeyFile> {
        self.signer.as_ref()
    }

    /// Publishes `model` (whose artifact is `bytes`) as `role`: its slot's record, which replicas
    /// install, then its history record (`history/<role>/<version>`, [`ModelKey`]), which
    /// `rollback` and the live page read; `command` (`publish`, `promote`, `rollback`) names what
    /// published it there. Returns where the slot's record landed.
    pub fn publish_model(
        &self,
        role: Role,
        model: &Model,
        bytes: &[u8],
        command: &str,
    ) -> Result<(i32, i64)> {
        let by = published_by(command);
        let history = ModelKey::history(role, model.model_version()).to_string();
        let slot = self.enqueue(Artifact::Model, role.as_str(), bytes, None)?;
        let entry = self.enqueue(Artifact::Model, &history, bytes, Some(&by))?;
        let landed = self.acknowledged(slot)?;
        self.acknowledged(entry)?;
        Ok(landed)
    }

    /// Sends one record (signed with `--key`, if given; with a published-by header, if given) and
    /// waits for the broker's acknowledgement: (partition, offset).
    pub fn send(
        &self,
        kind: Artifact,
        key: &str,
        bytes: &[u8],
        by: Option<&str>,
    ) -> Result<(i32, i64)> {
        let delivery = self.enqueue(kind, key, bytes, by)?;
        self.acknowledged(delivery)
    }

    fn enqueue(
        &self,
        kind: Artifact,
        key: &str,
        bytes: &[u8],
        by: Option<&str>,
    ) -> Result<DeliveryFuture> {
        let mut headers = match &self.signer {
            Some(signer) => aegis_kafka::signed::headers(&signer.sign(kind, key, bytes)),
            None => OwnedHeaders::new(),
        };
        if let Some(by) = by {
            headers = headers.insert(Header {
                key: ModelKey::PUBLISHED_BY_HEADER,
                value: Some(by),
            });
        }
        let record = FutureRecord::to(&self.topic)
            .key(key)
            .payload(bytes)
            .headers(headers);
        self.producer
            .send_result(record)
            .map_err(|(e, _)| anyhow!("cannot publish to {}: {e}", self.topic))
    }

    fn acknowledged(&self, delivery: DeliveryFuture) -> Result<(i32, i64)> {
        let topic = &self.topic;
        self.producer
            .flush(self.timeout)
            .with_context(|| format!("{topic} did not acknowledge within {:?}", self.timeout))?;
        futures::executor::block_on(delivered(delivery))
            .with_context(|| format!("{topic} did not take the record"))
    }

    /// Says so on stderr when nothing was signed (no `--key`).
    pub fn warn_if_unsigned(&self) {
        if self.signer.is_none() {
            eprintln!("aegis-trainer: warning: published unsigned (no --key): replicas run with --trusted-keys refuse it");
        }
    }
}

/// `aegis-trainer COMMAND by USER` (`$USER`, when set): what a history record says published it.
fn published_by(command: &str) -> String {
    match std::env::var("USER").or_else(|_| std::env::var("USERNAME")) {
        Ok(user) if !user.is_empty() => format!("aegis-trainer {command} by {user}"),
        _ => format!("aegis-trainer {command}"),
    }
}
