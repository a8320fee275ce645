//! The command lines the stack runs, written once: `aegis-scorer`, `aegis-outcomes`,
//! `aegis-producer`, `aegis-trainer` (`train`, `publish`) and Prometheus (tansu's is [`aegis_testkit::broker::tansu_command`]). `aegis-stack
//! scorer` execs the same scorer command that `aegis-stack up` spawns. Topics are the scorer's and
//! producer's defaults: the contract's names.

use std::path::{Path, PathBuf};
use std::process::Command;

use aegis_core::topics::TRANSACTIONS_TOPIC;
use aegis_core::Role;

use crate::StackError;

/// The PaySim sample the shared model is trained on.
pub const TRAINING_DATA: &str = "data/paysim_fraud_enriched_steps_1-400.csv";
/// The sample keeps every fraud and 1 legit row in 256.2: legit rows weigh that much so that the
/// trainer reports metrics at PaySim's natural fraud rate (data/README.md).
const LEGIT_WEIGHT: &str = "256.2";

/// The directory holding the Aegis binaries (`target/release` once built).
#[derive(Clone, Debug)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// The binaries in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Binaries {
        Binaries { dir: dir.into() }
    }

    /// The path of binary `name`, which must exist.
    pub fn path(&self, name: &str) -> Result<PathBuf, StackError> {
        let path = self.dir.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(StackError::MissingBinary(path))
        }
    }
}

/// What one scorer replica needs to know.
#[derive(Clone, Debug)]
pub struct Scorer<'a> {
    /// Bootstrap servers.
    pub brokers: &'a str,
    /// The consumer group every replica of the stack joins.
    pub group_id: &'a str,
    /// The model file.
    pub model: &'a Path,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
    /// `own` or `all` (`--live-view`); the scorer's default when `None`.
    pub live_view: Option<&'a str>,
    /// The public keys whose signed models and rule sets it installs (`--trusted-keys`); `None`:
    /// `--allow-unsigned`, for a scorer started by hand in development.
    pub trusted_keys: Option<&'a Path>,
}

/// The seed rule set (docs/rules.md), relative to the repository root the stack runs from.
pub const SEED_RULES: &str = "deploy/rules/default.json";

/// A spec's data replayed instead of PaySim's simulation (`aegis-stack up --spec`): its model is
/// trained on the CSV, and the producer replays it in event time, `speedup` seconds of event time
/// per second.
#[derive(Clone, Debug)]
pub struct SpecTraffic {
    /// The spec file.
    pub spec: PathBuf,
    /// Its labelled CSV: trained on, then replayed.
    pub data: PathBuf,
    /// The rule set the scorers apply (read against the spec).
    pub rules: PathBuf,
    /// Seconds of event time per second.
    pub speedup: f64,
}

/// `aegis-scorer` for `scorer`: the model, and the seed rules (so the takeover is blocked by its
/// sequence).
pub fn scorer(binaries: &Binaries, scorer: &Scorer<'_>) -> Result<Command, StackError> {
    scorer_with_rules(binaries, scorer, Path::new(SEED_RULES))
}

/// `aegis-scorer` for `scorer` with the rule set `rules`.
pub fn scorer_with_rules(
    binaries: &Binaries,
    scorer: &Scorer<'_>,
    rules: &Path,
) -> Result<Command, StackError> {
    let mut command = Command::new(binaries.path("aegis-scorer")?);
    command
        .args(["--brokers", scorer.brokers, "--group-id", scorer.group_id])
        .arg("--model")
        .arg(scorer.model)
        .arg("--rules")
        .arg(rules)
        .args(["--http-addr", &format!("127.0.0.1:{}", scorer.port)]);
    if let Some(view) = scorer.live_view {
        command.args(["--live-view", view]);
    }
    match scorer.trusted_keys {
        Some(keys) => command.arg("--trusted-keys").arg(keys),
        None => command.arg("--allow-unsigned"),
    };
    Ok(command)
}

/// What the producer needs to know.
#[derive(Clone, Debug)]
pub struct Producer<'a> {
    /// Bootstrap servers.
    pub brokers: &'a str,
    /// Transactions per second.
    pub rate: f64,
    /// One account takeover every this many transactions (the producer's default when `None`).
    pub takeover_every: Option<u32>,
    /// Seed of the simulation (the producer's default when `None`).
    pub seed: Option<u64>,
    /// From a transaction to its label (`--label-delay`).
    pub label_delay: std::time::Duration,
    /// Share of labels published (`--label-share`).
    pub label_share: f64,
    /// Its metrics port on 127.0.0.1.
    pub metrics_port: u16,
}

/// `aegis-producer` replaying `traffic`'s CSV in event time, with labels after `--label-delay`.
pub fn spec_producer(
    binaries: &Binaries,
    producer: &Producer<'_>,
    traffic: &SpecTraffic,
) -> Result<Command, StackError> {
    let mut command = Command::new(binaries.path("aegis-producer")?);
    command
        .args(["--brokers", producer.brokers])
        .args(["--transactions-topic", TRANSACTIONS_TOPIC])
        .arg("--spec")
        .arg(&traffic.spec)
        .arg("--replay")
        .arg(&traffic.data)
        .args(["--speedup", &traffic.speedup.to_string()])
        .args([
            "--label-delay",
            &aegis_kafka::duration::show(producer.label_delay),
        ])
        .args([
            "--metrics-addr",
            &format!("127.0.0.1:{}", producer.metrics_port),
        ]);
    Ok(command)
}

/// `aegis-producer` simulating payments at `producer.rate`, with the account-takeover scenario.
pub fn producer(binaries: &Binaries, producer: &Producer<'_>) -> Result<Command, StackError> {
    let mut command = Command::new(binaries.path("aegis-producer")?);
    command
        .args(["--brokers", producer.brokers])
        .args(["--transactions-topic", TRANSACTIONS_TOPIC])
        .arg("--simulate")
        .args(["--rate", &producer.rate.to_string()])
        .args(["--scenario", "account-takeover"])
        .args([
            "--label-delay",
            &format!("{}ms", producer.label_delay.as_millis()),
        ])
        .args(["--label-share", &producer.label_share.to_string()])
        .args([
            "--metrics-addr",
            &format!("127.0.0.1:{}", producer.metrics_port),
        ]);
    if let Some(every) = producer.takeover_every {
        command.args(["--takeover-every", &every.to_string()]);
    }
    if let Some(seed) = producer.seed {
        command.args(["--seed", &seed.to_string()]);
    }
    Ok(command)
}

/// What the outcome service needs to know.
#[derive(Clone, Debug)]
pub struct Outcomes<'a> {
    /// Bootstrap servers.
    pub brokers: &'a str,
    /// Its consumer group (not the scorers').
    pub group_id: &'a str,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
}

/// `aegis-outcomes` for `outcomes`, on the contract's topics.
pub fn outcomes(binaries: &Binaries, outcomes: &Outcomes<'_>) -> Result<Command, StackError> {
    let mut command = Command::new(binaries.path("aegis-outcomes")?);
    command
        .args([
            "--brokers",
            outcomes.brokers,
            "--group-id",
            outcomes.group_id,
        ])
        .args(["--http-addr", &format!("127.0.0.1:{}", outcomes.port)]);
    Ok(command)
}

/// The stack's models are one per [`Role`]: the live one every scorer starts with (`--model`,
/// the trainer's defaults: 100 trees, depth 12, seed 42), and the shadow published on the models
/// topic — a different forest (fewer, shallower trees from another seed), so that it disagrees
/// with the live model now and then and the agreement matrix and its outcomes show it.
fn train_args(role: Role) -> &'static [&'static str] {
    match role {
        Role::Live => &[],
        Role::Shadow => &["--trees", "30", "--max-depth", "8", "--seed", "7"],
    }
}

/// What a model is trained on: PaySim's sample for `role`, or a spec's data.
#[derive(Clone, Copy, Debug)]
pub enum Training<'a> {
    /// [`TRAINING_DATA`], with `role`'s forest.
    Paysim(Role),
    /// The spec's CSV, with the trainer's defaults.
    Spec(&'a SpecTraffic),
}

impl Training<'_> {
    /// The data file.
    pub fn data(&self) -> &Path {
        match self {
            Training::Paysim(_) => Path::new(TRAINING_DATA),
            Training::Spec(traffic) => &traffic.data,
        }
    }
}

/// `aegis-trainer train` of `training`'s model into `out`.
pub fn trainer(
    binaries: &Binaries,
    out: &Path,
    training: Training<'_>,
) -> Result<Command, StackError> {
    let data = training.data();
    if !data.is_file() {
        return Err(StackError::MissingRepositoryFile(data.to_owned()));
    }
    let mut command = Command::new(binaries.path("aegis-trainer")?);
    command
        .arg("train")
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out);
    match training {
        Training::Paysim(role) => command
            .args(["--legit-weight", LEGIT_WEIGHT])
            .args(train_args(role)),
        Training::Spec(traffic) => command.arg("--spec").arg(&traffic.spec),
    };
    Ok(command)
}

/// `aegis-trainer publish` of `model` as `role` on the contract's models topic, signed with `key`.
pub fn publish(
    binaries: &Binaries,
    brokers: &str,
    model: &Path,
    role: Role,
    key: &Path,
) -> Result<Command, StackError> {
    let mut command = Command::new(binaries.path("aegis-trainer")?);
    command
        .args(["publish", "--brokers", brokers])
        .arg("--model")
        .arg(model)
        .args(["--role", role.as_str()])
        .arg("--key")
        .arg(key);
    Ok(command)
}

/// Prometheus with `config`, its storage in `storage`, listening on 127.0.0.1:`port`.
pub fn prometheus(config: &Path, storage: &Path, port: u16) -> Result<Command, StackError> {
    let binary = on_path("prometheus").ok_or(StackError::MissingTool {
        tool: "prometheus",
        hint: "run scripts/setup (Debian package prometheus)",
    })?;
    let mut command = Command::new(binary);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    Ok(command)
}

/// Where `program` is on `PATH`.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
