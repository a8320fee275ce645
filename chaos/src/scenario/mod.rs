//! `aegis-chaos run`: the fault scenarios, each on a fresh broker with its own scorers and
//! consumer group, ending in a check of every input message. A scenario that ran to its check
//! returns an [`Outcome`] (what the writer had acknowledged, and the check's [`Report`]) that says
//! whether it passed; one that could not get that far (a process that would not start, a scorer
//! that exited when it should not have, a stop signal) is a [`ScenarioError`]. Whatever a scenario
//! starts is stopped when it ends, also on failure ([`testbed::Testbed`] kills it when dropped).

mod plays;
pub mod producer;
pub mod testbed;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aegis_stack::commands::Binaries;
use aegis_stack::StackError;
use aegis_testkit::broker::BrokerError;
use aegis_testkit::topics::TopicError;
use tokio_util::sync::CancellationToken;

use crate::http_abuse::Findings;
use crate::ledger::Report;
use testbed::Testbed;

/// A fault scenario, named on the command line as in `scripts/chaos`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// 100k transactions at 5,000/s through two scorers; one gets SIGKILL mid-stream and is
    /// restarted 2 s later: every transaction has a verdict, and every message repeated across
    /// the kill lies in the uncommitted window at the kill.
    Sigkill,
    /// 50k at 2,500/s through two scorers; the broker gets SIGKILL mid-stream and is restarted
    /// 3 s later on the same storage and port: nothing is lost and nothing else restarts.
    BrokerRestart,
    /// 50k at 2,500/s through one scorer that gets SIGTERM mid-stream: it drains, commits and
    /// exits 0, and its replacement repeats nothing it scored.
    Sigterm,
    /// 10k hostile messages interleaved with 5k valid ones, two scorers: every bad one is in the
    /// DLQ with its reason, every valid one has a verdict, and no scorer restarts or panics.
    Fuzz,
    /// 2,000 slow and oversized HTTP clients for 10 s against the one scorer while 8k
    /// transactions flow at 500/s: every transaction has one verdict, the scorer's peak RSS stays
    /// within what its HTTP caps allow, every abusive request is refused, and the scorer never
    /// restarts, still scores over HTTP and drains on SIGTERM.
    HttpAbuse,
}

impl Scenario {
    /// Every scenario, in the order `run` with no names runs them.
    pub const ALL: [Scenario; 5] = [
        Scenario::Sigkill,
        Scenario::BrokerRestart,
        Scenario::Sigterm,
        Scenario::Fuzz,
        Scenario::HttpAbuse,
    ];

    /// Its name on the command line, in the work directory and in the consumer group's name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Sigkill => "sigkill",
            Scenario::BrokerRestart => "broker-restart",
            Scenario::Sigterm => "sigterm",
            Scenario::Fuzz => "fuzz",
            Scenario::HttpAbuse => "http-abuse",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What every scenario needs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The Aegis binaries (`aegis-scorer` is run from here).
    pub binaries: Binaries,
    /// The shared model every scorer loads (trained beforehand: `aegis_stack::model::ensure`).
    pub model: PathBuf,
    /// The work directory: each scenario's logs, broker storage, snapshot and manifest go to
    /// `WORK/NAME/`.
    pub work: PathBuf,
}

/// What a scenario that ran to its check found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Which scenario.
    pub scenario: Scenario,
    /// Messages the writer (the producer, or the fuzzer) had acknowledged by the broker; the
    /// check counts any of them missing from the input topic as lost.
    pub acknowledged: u64,
    /// The check of every input message: sent, verdicts, lost, duplicates, DLQ and problems.
    pub report: Report,
    /// What the HTTP abuse did (`http-abuse` only); its failures are among the report's
    /// problems.
    pub abuse: Option<Findings>,
    /// How long the scenario took, from its broker's start to the end of its checks.
    pub elapsed: Duration,
}

impl Outcome {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.report.passed()
    }
}

impl fmt::Display for Outcome {
    /// `NAME: sent …, verdicts …, lost …, duplicates …, DLQ …`, then the report's details and
    /// what the HTTP abuse did.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.scenario, self.report)?;
        match &self.abuse {
            Some(findings) => write!(f, "{findings}"),
            None => Ok(()),
        }
    }
}

/// Why a scenario did not get to (or through) its check.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A process of the stack did not start, or a file could not be written.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// The broker did not start (or restart).
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The contract's topics could not be created.
    #[error(transparent)]
    Topics(#[from] TopicError),
    /// A Kafka step of the scenario (snapshot, hostile input, check) failed.
    #[error("{what}: {source:#}")]
    Kafka {
        /// The step.
        what: &'static str,
        /// Why.
        source: anyhow::Error,
    },
    /// The producer failed.
    #[error("the producer: {0:#}")]
    Producer(anyhow::Error),
    /// Something the scenario demands of its processes did not hold, e.g. a scorer that should
    /// have kept running exited.
    #[error("{0}")]
    Violated(String),
    /// A stop signal (Ctrl-C, SIGTERM) arrived.
    #[error("stopped by a signal")]
    Cancelled,
}

/// Runs `scenario` in `settings.work/NAME` on a fresh broker; `runtime` serves the async Kafka
/// admin calls, and `cancel` stops the scenario (as [`ScenarioError::Cancelled`]).
pub fn run(
    scenario: Scenario,
    settings: &Settings,
    runtime: &tokio::runtime::Handle,
    cancel: &CancellationToken,
) -> Result<Outcome, ScenarioError> {
    let started = Instant::now();
    let dir = settings.work.join(scenario.name());
    std::fs::create_dir_all(&dir).map_err(StackError::file("cannot create", &dir))?;
    let group = format!("aegis-chaos-{}", scenario.name());
    let mut bed = Testbed::start(&dir, &group, settings, runtime, cancel)?;
    let checked = match scenario {
        Scenario::Sigkill => plays::sigkill(&mut bed),
        Scenario::BrokerRestart => plays::broker_restart(&mut bed),
        Scenario::Sigterm => plays::sigterm(&mut bed),
        Scenario::Fuzz => plays::fuzz(&mut bed),
        Scenario::HttpAbuse => plays::http_abuse(&mut bed),
    }
    .map_err(|e| {
        if cancel.is_cancelled() {
            ScenarioError::Cancelled
        } else {
            e
        }
    })?;
    bed.stop();
    Ok(Outcome {
        scenario,
        acknowledged: checked.acknowledged,
        report: checked.report,
        abuse: checked.abuse,
        elapsed: started.elapsed(),
    })
}

/// A scenario's check: what the writer had acknowledged, what the check found and, for
/// `http-abuse`, what the abuse did.
struct Checked {
    acknowledged: u64,
    report: Report,
    abuse: Option<Findings>,
}

/// Prints a step of a scenario on stderr, as `chaos: …`.
pub fn say(message: impl fmt::Display) {
    eprintln!("\x1b[1mchaos:\x1b[0m {message}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_scenario_is_chosen_by_its_name() {
        for scenario in Scenario::ALL {
            assert_eq!(Scenario::from_str(scenario.name(), false), Ok(scenario));
        }
        assert_eq!(Scenario::value_variants(), Scenario::ALL);
    }
}
