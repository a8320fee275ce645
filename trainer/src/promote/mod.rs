//! `aegis-trainer promote` and `rollback`: the live model changed from what the models topic
//! already holds, signed as `publish` signs.
//!
//! - `promote` makes the shadow model live when the shadow meets [`criterion`] against the live
//!   model on the same labelled transactions ([`measure`]); `--force` skips the criterion, with a
//!   warning.
//! - `rollback` makes the previous live model live again: the latest version in the topic's
//!   history (`history/live/<version>`, [`aegis_core::ModelKey`]) other than the one live now.
//!   Rolling back twice returns to where it started, as the history is in order of publication.
//!
//! Both republish the exact artifact the topic holds — the slot's record, then its history record
//! — and, with `--key`, only an artifact that key signed: whoever can write the topic cannot get
//! a record of theirs signed by promoting or rolling back to it.

pub mod criterion;
mod measure;
mod models_topic;

use std::time::{Duration, Instant};

use aegis_core::signing::{Artifact, SigningKeyFile};
use aegis_core::topics::{LABELS_TOPIC, SHADOW_VERDICTS_TOPIC, VERDICTS_TOPIC};
use aegis_core::{Model, Role};
use anyhow::{Context, Result};
use clap::Args;

use crate::publish::{ModelsTopicArgs, Publisher};
use models_topic::{ModelsTopic, Record};

/// Longest `promote` may take to read the verdicts and labels topics.
const READ_LIMIT: Duration = Duration::from_secs(600);

/// Flags of `aegis-trainer promote`.
#[derive(Args, Debug)]
pub struct PromoteArgs {
    /// Brokers, the models topic, the signing key.
    #[command(flatten)]
    pub target: ModelsTopicArgs,
    /// Promote without judging: skips the criterion (and reading verdicts and labels), with a
    /// warning.
    #[arg(long)]
    pub force: bool,
    /// Fewest labelled frauds among the transactions both models scored for the criterion to be
    /// judged; below it promote refuses (or --force).
    #[arg(long, env = "AEGIS_TRAINER_MIN_FRAUDS", default_value_t = 30)]
    pub min_frauds: u64,
    /// Judge on the records written to the three topics below at or after this time — a date
    /// (`YYYY-MM-DD`, UTC), a timestamp, or a duration ago (`7d`, `12h`); without it, on all
    /// they retain.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Topic of the live model's verdicts.
    #[arg(long, env = "AEGIS_VERDICTS_TOPIC", value_name = "TOPIC", default_value = VERDICTS_TOPIC)]
    pub verdicts_topic: String,
    /// Topic of the shadow model's verdicts.
    #[arg(long, env = "AEGIS_SHADOW_VERDICTS_TOPIC", value_name = "TOPIC", default_value = SHADOW_VERDICTS_TOPIC)]
    pub shadow_verdicts_topic: String,
    /// Topic of labels.
    #[arg(long, env = "AEGIS_LABELS_TOPIC", value_name = "TOPIC", default_value = LABELS_TOPIC)]
    pub labels_topic: String,
}

impl PromoteArgs {
    /// `promote` with every other flag at its default.
    pub fn new(target: ModelsTopicArgs) -> PromoteArgs {
        PromoteArgs {
            target,
            force: false,
            min_frauds: 30,
            since: None,
            verdicts_topic: VERDICTS_TOPIC.to_owned(),
            shadow_verdicts_topic: SHADOW_VERDICTS_TOPIC.to_owned(),
            labels_topic: LABELS_TOPIC.to_owned(),
        }
    }
}

/// Flags of `aegis-trainer rollback`.
#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// Brokers, the models topic, the signing key.
    #[command(flatten)]
    pub target: ModelsTopicArgs,
}

/// `aegis-trainer promote`.
pub fn promote(args: &PromoteArgs) -> Result<()> {
    let target = &args.target;
    let topic = target.prefix.topic(&target.models_topic);
    let signer = target.signer()?;
    let publisher = Publisher::connect(target, &topic, "--models-topic", signer)?;
    let held = ModelsTopic::read(target, &topic)?;
    let shadow = held.shadow.as_ref().with_context(|| {
        format!(
            "{topic} holds no shadow model: publish one with `aegis-trainer publish --role shadow`"
        )
    })?;
    let live = held.live.as_ref().map(Record::model).transpose()?;
    let candidate = checked(shadow, publisher.signer(), live.as_ref())?;
    let live_version = live.as_ref().map(|m| m.model_version().to_owned());
    if live_version.as_deref() == Some(candidate.model_version()) {
        anyhow::bail!(
            "the shadow model {} is live already: nothing to promote",
            candidate.model_version()
        );
    }
    if args.force {
        eprintln!(
            "aegis-trainer: warning: --force: promoting {} without judging it against the live model",
            candidate.model_version()
        );
    } else {
        let live_version = live_version.as_deref().with_context(|| {
            format!("{topic} holds no live model to judge the shadow against: publish one, or promote with --force")
        })?;
        judge(args, live_version, candidate.model_version())?;
    }
    let (partition, offset) =
        publisher.publish_model(Role::Live, &candidate, &shadow.bytes, "promote")?;
    println!(
        "promoted {} to live (was {}) on {topic} [partition {partition}, offset {offset}]",
        candidate.model_version(),
        live_version.as_deref().unwrap_or("none")
    );
    publisher.warn_if_unsigned();
    Ok(())
}

/// Prints the criterion's figures and decision; `Err` when it is not met or cannot be judged.
fn judge(args: &PromoteArgs, live_version: &str, shadow_version: &str) -> Result<()> {
    let target = &args.target;
    let topics = measure::Topics {
        verdicts: target.prefix.topic(&args.verdicts_topic),
        shadow_verdicts: target.prefix.topic(&args.shadow_verdicts_topic),
        labels: target.prefix.topic(&args.labels_topic),
    };
    let since = args
        .since
        .as_deref()
        .map(|text| crate::history::since_ms(text, aegis_core::clock::now_ms()))
        .transpose()?;
    let joined = measure::join(
        &target.brokers,
        &target.kafka.properties(),
        &topics,
        (live_version, shadow_version),
        since.unwrap_or(0),
        Instant::now() + READ_LIMIT,
    )?;
    if joined.undecodable > 0 {
        eprintln!(
            "aegis-trainer: warning: {} records of {}, {} and {} did not decode and were skipped",
            joined.undecodable, topics.shadow_verdicts, topics.labels, topics.verdicts
        );
    }
    let judged = criterion::judge(&joined.rows, args.min_frauds)?;
    println!("{}", judged.table(live_version, shadow_version));
    anyhow::ensure!(
        judged.met(),
        "not promoted: the shadow caught {} frauds in the top {} against the live model's {}; \
         --force promotes it anyway",
        judged.shadow.caught,
        judged.alerts,
        judged.live.caught
    );
    Ok(())
}

/// `aegis-trainer rollback`.
pub fn rollback(args: &RollbackArgs) -> Result<()> {
    let target = &args.target;
    let topic = target.prefix.topic(&target.models_topic);
    let signer = target.signer()?;
    let publisher = Publisher::connect(target, &topic, "--models-topic", signer)?;
    let held = ModelsTopic::read(target, &topic)?;
    let live = held.live.as_ref().map(Record::model).transpose()?;
    let live_version = live.as_ref().map(|m| m.model_version().to_owned());
    let previous = held
        .previous_live(live_version.as_deref())
        .with_context(|| {
            format!(
                "{topic} has no previous live model in its history (live now: {}): nothing to roll back to",
                live_version.as_deref().unwrap_or("none")
            )
        })?;
    let model = checked(previous, publisher.signer(), live.as_ref())?;
    let (partition, offset) =
        publisher.publish_model(Role::Live, &model, &previous.bytes, "rollback")?;
    println!(
        "rolled back live to {} (was {}) on {topic} [partition {partition}, offset {offset}]",
        model.model_version(),
        live_version.as_deref().unwrap_or("none")
    );
    publisher.warn_if_unsigned();
    Ok(())
}

/// The model `record` holds, once it is of the live model's spec (replicas refuse another) and —
/// with `--key` — was signed by that key.
fn checked(
    record: &Record,
    signer: Option<&SigningKeyFile>,
    live: Option<&Model>,
) -> Result<Model> {
    if let Some(signer) = signer {
        let (signature, signer_id) = (record.signature.as_deref(), record.signer.as_deref());
        signer
            .trusted()
            .verify(
                Artifact::Model,
                &record.key,
                &record.bytes,
                signature,
                signer_id,
            )
            .map_err(|refusal| {
                anyhow::anyhow!(
                    "{}: {refusal}; with --key, only what key {} signed is republished (publish it again with --key)",
                    record.place,
                    signer.id()
                )
            })?;
    }
    let model = record.model()?;
    if let Some(live) = live {
        model.expect_spec(std::path::Path::new(&record.place), live.spec())?;
    }
    Ok(model)
}
