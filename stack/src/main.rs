//! The `aegis-stack` command line: `up` runs the whole local stack; `broker`, `topics`, `scorer`,
//! `model`, `wait` and `free-port` are its parts, for scripts that start or fault individual
//! processes (chaos/repro); `summary` sums the scorers' final metrics after `up`. The work is in
//! the `aegis_stack` library (stack/src/), which `aegis-chaos run` also drives.

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aegis_core::error_line::one_line;
use aegis_core::topics::{spec, TRANSACTIONS_TOPIC};
use aegis_core::Role;
use aegis_kafka::duration::{millis, secs};
use aegis_kafka::renamed::{Flag, Value};
use aegis_stack::commands::{self, Binaries};
use aegis_stack::model::{self, ModelState};
use aegis_stack::summary::ScorerTotals;
use aegis_stack::up::{self, Ending, UpConfig};
use aegis_stack::{wait, StackError};
use aegis_testkit::broker::{answers_metadata, tansu_command, try_free_port};
use aegis_testkit::topics::{self, Topic};
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "aegis-stack",
    version,
    about = "The local Aegis stack (tansu broker, topics, model, scorers, producer, Prometheus) \
             for the demo, the checks and the fault scripts. Run it from the repository root."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the whole stack, print its URLs and write its variables to an env file; run until
    /// Ctrl-C, SIGTERM or --duration (or, given `-- COMMAND`, until the command ends); then stop
    /// in order: producer, scorers (drained), Prometheus, broker.
    Up(Box<UpArgs>),
    /// Run the tansu broker in the foreground (this process becomes it, so its pid is the
    /// broker's) on 127.0.0.1:PORT with SQLite storage in DIR; again on the same DIR and PORT, it
    /// serves what it stored.
    Broker {
        /// Storage directory (created if missing).
        #[arg(long, env = "AEGIS_STACK_BROKER_DIR")]
        dir: PathBuf,
        /// Port on 127.0.0.1.
        #[arg(long, env = "AEGIS_STACK_BROKER_PORT")]
        port: u16,
    },
    /// Wait until the broker answers, then create topics (by default the contract's, from
    /// deploy/topics.txt); topics that exist with the same partitions are kept. One line each.
    Topics {
        #[command(flatten)]
        broker: BrokerWait,
        /// A topic as NAME:PARTITIONS[:delete|compact], instead of the table; repeatable.
        #[arg(long = "topic", env = "AEGIS_STACK_TOPICS", value_delimiter = ',')]
        topics: Vec<Topic>,
    },
    /// Run one aegis-scorer as the stack runs them (this process becomes it); arguments after
    /// `--` are passed on.
    Scorer {
        #[command(flatten)]
        bins: BinDir,
        /// Bootstrap servers.
        #[arg(long, env = "AEGIS_STACK_BROKERS")]
        brokers: String,
        /// Consumer group.
        #[arg(long, env = "AEGIS_STACK_GROUP_ID", default_value = "aegis-stack")]
        group_id: String,
        /// Model file.
        #[arg(long, env = "AEGIS_STACK_MODEL", default_value = "models/aegis.model")]
        model: PathBuf,
        /// HTTP port on 127.0.0.1.
        #[arg(long, env = "AEGIS_STACK_SCORER_PORT")]
        port: u16,
        /// Further aegis-scorer flags.
        #[arg(last = true)]
        extra: Vec<OsString>,
    },
    /// Train the shared model unless it is newer than the trainer binary and the data.
    Model {
        #[command(flatten)]
        bins: BinDir,
        /// Model file.
        #[arg(long, env = "AEGIS_STACK_MODEL", default_value = "models/aegis.model")]
        out: PathBuf,
    },
    /// Wait until a broker answers metadata requests (--kafka) or a URL answers 2xx (--http).
    Wait {
        /// Bootstrap servers to wait for.
        #[arg(
            long,
            env = "AEGIS_STACK_WAIT_KAFKA",
            required_unless_present = "http",
            conflicts_with = "http"
        )]
        kafka: Option<String>,
        /// URL to wait for.
        #[arg(long, env = "AEGIS_STACK_WAIT_HTTP")]
        http: Option<String>,
        /// Give up after this long.
        #[arg(
            long,
            env = "AEGIS_STACK_WAIT_TIMEOUT",
            default_value = "1m",
            value_name = "DURATION",
            value_parser = secs(0, u64::MAX)
        )]
        timeout: u64,
        /// Give up as soon as this process is gone (the one that should answer).
        #[arg(long, env = "AEGIS_STACK_WAIT_PID")]
        pid: Option<u32>,
    },
    /// Print a free TCP port on 127.0.0.1.
    FreePort,
    /// Sum the scorers' final metrics (the DIR/scorer-N.metrics files `up` saves before it stops
    /// them) into one summary: verdicts by decision, blocked amount, dead letters, p50/p99
    /// event-to-verdict latency.
    Summary {
        /// Metrics files in Prometheus text format, one per scorer.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct BinDir {
    /// Directory of the Aegis binaries.
    #[arg(long, env = "AEGIS_STACK_BIN_DIR", default_value = "target/release")]
    bin_dir: PathBuf,
}

#[derive(Args)]
struct BrokerWait {
    /// Bootstrap servers.
    #[arg(long, env = "AEGIS_STACK_BROKERS")]
    brokers: String,
    /// Give up waiting for the broker after this long.
    #[arg(
        long,
        env = "AEGIS_STACK_BROKER_TIMEOUT",
        default_value = "30s",
        value_name = "DURATION",
        value_parser = secs(0, u64::MAX)
    )]
    timeout: u64,
    /// Give up as soon as this process (the broker) is gone.
    #[arg(long, env = "AEGIS_STACK_BROKER_PID")]
    pid: Option<u32>,
}

#[derive(Args)]
struct UpArgs {
    /// Directory for logs, broker storage, Prometheus data and the env file; its contents are
    /// replaced at each start (a new, empty or earlier aegis-stack directory only).
    #[arg(long, env = "AEGIS_STACK_DIR")]
    dir: PathBuf,
    #[command(flatten)]
    bins: BinDir,
    /// The shared model, trained first if missing or older than the trainer or the data.
    #[arg(long, env = "AEGIS_STACK_MODEL", default_value = "models/aegis.model")]
    model: PathBuf,
    /// The shadow model, trained first (fewer, shallower trees, another seed) if missing or older
    /// than the trainer or the data, and published on the models topic with `aegis-trainer
    /// publish --role shadow` once the scorers run: they score every transaction with it too.
    #[arg(
        long,
        env = "AEGIS_STACK_SHADOW_MODEL",
        default_value = "models/aegis-shadow.model"
    )]
    shadow_model: PathBuf,
    /// Run no shadow model.
    #[arg(long, env = "AEGIS_STACK_NO_SHADOW")]
    no_shadow: bool,
    /// Replay a spec's data instead of simulating PaySim (docs/your-data.md): `--model` is then
    /// trained on `--replay` with this spec, the scorers apply `--rules`, and no shadow model runs.
    #[arg(
        long,
        env = "AEGIS_STACK_SPEC",
        requires = "replay",
        requires = "rules"
    )]
    spec: Option<PathBuf>,
    /// With --spec: the labelled CSV the model is trained on and the producer replays.
    #[arg(long, env = "AEGIS_STACK_REPLAY", requires = "spec")]
    replay: Option<PathBuf>,
    /// With --spec: the scorers' rule set (read against the spec).
    #[arg(long, env = "AEGIS_STACK_RULES", requires = "spec")]
    rules: Option<PathBuf>,
    /// With --spec: seconds of event time replayed per second.
    #[arg(long, env = "AEGIS_STACK_SPEEDUP", default_value_t = 21_600.0)]
    speedup: f64,
    /// Scorer replicas in one consumer group (at most the partitions of `transactions`).
    #[arg(long, env = "AEGIS_STACK_SCORERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    scorers: u16,
    /// The scorers' consumer group.
    #[arg(long, env = "AEGIS_STACK_GROUP_ID", default_value = "aegis-stack")]
    group_id: String,
    /// The scorers' --live-view (own or all; the scorer's default, own, when not given).
    #[arg(long, env = "AEGIS_STACK_LIVE_VIEW")]
    live_view: Option<String>,
    /// Transactions per second the producer simulates (account-takeover scenario on).
    #[arg(long, env = "AEGIS_STACK_RATE", default_value_t = 200.0)]
    rate: f64,
    /// One account takeover every this many transactions (the producer's default when not given).
    #[arg(long, env = "AEGIS_STACK_TAKEOVER_EVERY")]
    takeover_every: Option<u32>,
    /// Seed of the producer's simulation (the producer's default when not given).
    #[arg(long, env = "AEGIS_STACK_SEED")]
    seed: Option<u64>,
    /// How long after each transaction the producer publishes its label (aegis-outcomes joins
    /// labels with verdicts).
    #[arg(
        long = "label-delay",
        env = "AEGIS_STACK_LABEL_DELAY",
        default_value = "5s",
        value_name = "DURATION",
        value_parser = millis(0, u64::MAX)
    )]
    label_delay_ms: u64,
    /// Share of labels the producer publishes (the rest are withheld).
    #[arg(long, env = "AEGIS_STACK_LABEL_SHARE", default_value_t = 1.0)]
    label_share: f64,
    /// Start Prometheus (deploy/prometheus/prometheus.local.yml, alert rules loaded) scraping
    /// every scorer, the outcome service and the producer; the stack is ready once every target
    /// is up.
    #[arg(long, env = "AEGIS_STACK_PROMETHEUS")]
    prometheus: bool,
    /// Prometheus's scrape and rule-evaluation interval (whole seconds).
    #[arg(
        long,
        env = "AEGIS_STACK_SCRAPE_INTERVAL",
        default_value = "5s",
        value_name = "DURATION",
        value_parser = secs(1, u64::MAX)
    )]
    scrape_interval: u64,
    /// The bound of each wait while starting (a scorer holding partitions, …).
    #[arg(
        long,
        env = "AEGIS_STACK_READY_TIMEOUT",
        default_value = "1m",
        value_name = "DURATION",
        value_parser = secs(0, u64::MAX)
    )]
    ready_timeout: u64,
    /// Stop after this long.
    #[arg(
        long,
        env = "AEGIS_STACK_DURATION",
        value_name = "DURATION",
        value_parser = secs(1, u64::MAX)
    )]
    duration: Option<u64>,
    /// Where to write the stack's variables (BROKERS, SCORER_URLS, PROMETHEUS_URL, pids, …) for
    /// `source` in scripts; default DIR/stack.env. Removed when the stack stops.
    #[arg(long, env = "AEGIS_STACK_ENV_FILE")]
    env_file: Option<PathBuf>,
    /// A command to run once the stack is ready, with the same variables in its environment; the
    /// stack stops when it ends and exits with its status.
    #[arg(last = true)]
    command: Vec<OsString>,
}

/// Durations given as bare seconds before issue 31, read for one release with a warning.
const RENAMED_FLAGS: &[Flag] = &[
    Flag::new("--timeout", "--timeout", Value::Seconds),
    Flag::new("--label-delay", "--label-delay", Value::Seconds),
    Flag::new("--scrape-interval", "--scrape-interval", Value::Seconds),
    Flag::new("--ready-timeout", "--ready-timeout", Value::Seconds),
    Flag::new("--duration", "--duration", Value::Seconds),
];

fn main() -> ExitCode {
    let upgraded = aegis_kafka::renamed::upgrade(std::env::args_os(), RENAMED_FLAGS, &[], |name| {
        std::env::var(name).ok()
    });
    for warning in &upgraded.warnings {
        eprintln!("aegis-stack: warning: {warning}");
    }
    match run(Cli::parse_from(&upgraded.args)) {
        Ok(code) => code,
        Err(e) => {
            let error: &(dyn std::error::Error + 'static) = e.as_ref();
            eprintln!("aegis-stack: error: {}", one_line(error));
            ExitCode::FAILURE
        }
    }
}

/// Runs one subcommand. Long: one arm per subcommand, each a few calls into the library.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Up(args) => return up(*args),
        Command::Broker { dir, port } => {
            let error = tansu_command(&dir, port)?.exec();
            bail!("cannot run the tansu broker: {error}; run scripts/setup to install it");
        }
        Command::Topics { broker, topics } => {
            let topics = if topics.is_empty() {
                Topic::contract()
            } else {
                topics
            };
            wait_for_broker(&broker)?;
            let runtime = runtime()?;
            let limit = Duration::from_secs(broker.timeout);
            for (topic, outcome) in
                runtime.block_on(topics::create(&broker.brokers, &topics, limit))?
            {
                println!(
                    "{}: {outcome}, {} partitions, cleanup.policy={}",
                    topic.name, topic.partitions, topic.cleanup_policy
                );
            }
        }
        Command::Scorer {
            bins,
            brokers,
            group_id,
            model,
            port,
            extra,
        } => {
            let scorer = commands::Scorer {
                brokers: &brokers,
                group_id: &group_id,
                model: &model,
                port,
                live_view: None,
                trusted_keys: None,
            };
            let mut command = commands::scorer(&Binaries::new(bins.bin_dir), &scorer)?;
            let error = command.args(extra).exec();
            bail!(
                "cannot run {}: {error}",
                command.get_program().to_string_lossy()
            );
        }
        Command::Model { bins, out } => {
            match model::ensure(&Binaries::new(bins.bin_dir), &out, Role::Live)? {
                ModelState::Trained => eprintln!("aegis-stack: trained {}", out.display()),
                ModelState::UpToDate => eprintln!("aegis-stack: {} is up to date", out.display()),
            }
        }
        Command::Wait {
            kafka,
            http,
            timeout,
            pid,
        } => {
            if let Some(brokers) = kafka {
                wait_for_broker(&BrokerWait {
                    brokers,
                    timeout,
                    pid,
                })?;
            } else if let Some(url) = http {
                let agent = wait::http_agent();
                wait::until(&url, Duration::from_secs(timeout), None, || {
                    wait::still_running(&url, pid)?;
                    Ok(wait::http_ok(&agent, &url))
                })?;
            }
        }
        Command::FreePort => println!("{}", try_free_port().context("no free port on 127.0.0.1")?),
        Command::Summary { files } => {
            let mut totals = ScorerTotals::default();
            for file in &files {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                totals.add(&text);
            }
            print!("{totals}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let partitions = spec(TRANSACTIONS_TOPIC).map_or(1, |t| t.partitions);
    if i32::from(args.scorers) > partitions {
        bail!(
            "--scorers {}: {TRANSACTIONS_TOPIC} has {partitions} partitions (deploy/topics.txt), \
             so a replica beyond the {partitions}th would hold none",
            args.scorers
        );
    }
    let config = UpConfig {
        dir: args.dir,
        binaries: Binaries::new(&args.bins.bin_dir),
        bin_dir: args.bins.bin_dir,
        model: args.model,
        shadow_model: (!args.no_shadow && args.spec.is_none()).then_some(args.shadow_model),
        scorers: args.scorers,
        group_id: args.group_id,
        live_view: args.live_view,
        rate: args.rate,
        takeover_every: args.takeover_every,
        seed: args.seed,
        spec: match (args.spec, args.replay, args.rules) {
            (Some(spec), Some(data), Some(rules)) => Some(commands::SpecTraffic {
                spec,
                data,
                rules,
                speedup: args.speedup,
            }),
            _ => None,
        },
        label_delay: Duration::from_millis(args.label_delay_ms),
        label_share: args.label_share,
        prometheus: args.prometheus,
        scrape_interval_s: args.scrape_interval,
        ready_timeout: Duration::from_secs(args.ready_timeout),
        duration: args.duration.map(Duration::from_secs),
        env_file: args.env_file,
        command: args.command,
    };
    let runtime = runtime()?;
    let cancel = aegis_kafka::service::cancel_on_signal(&runtime);
    Ok(match up::run(&config, &cancel, runtime.handle())? {
        Ending::Signal | Ending::Duration => ExitCode::SUCCESS,
        Ending::Command(status) => {
            let code = status
                .code()
                .or(status.signal().map(|s| 128 + s))
                .unwrap_or(1);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    })
}

/// Waits (bounded) until the broker answers metadata requests.
fn wait_for_broker(broker: &BrokerWait) -> Result<(), StackError> {
    let what = format!("the broker at {}", broker.brokers);
    wait::until(&what, Duration::from_secs(broker.timeout), None, || {
        wait::still_running(&what, broker.pid)?;
        Ok(answers_metadata(&broker.brokers))
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
