//! `aegis-stack up`: the whole stack (started by [`super::start`]), run until a stop signal,
//! `--duration`, the end of the command run inside it, or the death of any part; then stopped in
//! order: producer (stop intake), scorers (drain and commit; their metrics saved first), the
//! outcome service (likewise), Prometheus, broker.

use std::ffi::OsString;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use rustix::process::Signal;
use tokio_util::sync::CancellationToken;

use crate::commands::Binaries;
use crate::info::{Endpoint, StackInfo};
use crate::process::{signal, Service};
use crate::start::{start, Part, Stack};
use crate::{wait, StackError};

/// The file that marks a directory as the stack's own, so that its contents may be replaced.
const MARKER: &str = ".aegis-stack";
/// How often the running stack is looked at.
const WATCH: Duration = Duration::from_millis(200);
/// How long the producer may take to flush after SIGTERM.
const PRODUCER_GRACE: Duration = Duration::from_secs(15);
/// How long scorers may take to drain and commit after SIGTERM: their own `--shutdown-timeout`
/// (15 s by default) and a margin.
const SCORER_GRACE: Duration = Duration::from_secs(20);
/// How long Prometheus, and a command run inside the stack, may take to stop after SIGTERM.
const OTHER_GRACE: Duration = Duration::from_secs(10);

/// What `aegis-stack up` starts, and for how long.
#[derive(Clone, Debug)]
pub struct UpConfig {
    /// Logs, broker storage, Prometheus data, the env file; replaced at each start.
    pub dir: PathBuf,
    /// The Aegis binaries.
    pub binaries: Binaries,
    /// Where they are (for the banner).
    pub bin_dir: PathBuf,
    /// The shared model, trained if missing or stale.
    pub model: PathBuf,
    /// The shadow model, trained if missing or stale and published once the scorers run.
    pub shadow_model: Option<PathBuf>,
    /// Scorer replicas in one consumer group.
    pub scorers: u16,
    /// Their consumer group.
    pub group_id: String,
    /// Their `--live-view`, when not the scorer's default.
    pub live_view: Option<String>,
    /// Producer: transactions per second.
    pub rate: f64,
    /// Producer: one account takeover every this many transactions.
    pub takeover_every: Option<u32>,
    /// Producer: seed of the simulation.
    pub seed: Option<u64>,
    /// A spec's CSV replayed instead of PaySim's simulation (`model` is then that spec's).
    pub spec: Option<crate::commands::SpecTraffic>,
    /// Producer: from a transaction to its label.
    pub label_delay: Duration,
    /// Producer: share of labels published.
    pub label_share: f64,
    /// Start Prometheus, scraping every scorer and the producer.
    pub prometheus: bool,
    /// Prometheus's scrape and rule-evaluation interval, in seconds.
    pub scrape_interval_s: u64,
    /// The bound of each wait while starting.
    pub ready_timeout: Duration,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Where to write the variables of the running stack (default `DIR/stack.env`).
    pub env_file: Option<PathBuf>,
    /// Run this once the stack is ready, with its variables in the environment; stop when it ends.
    pub command: Vec<OsString>,
}

/// Why the stack stopped, when it stopped as asked.
#[derive(Clone, Copy, Debug)]
pub enum Ending {
    /// SIGINT or SIGTERM.
    Signal,
    /// `--duration` passed.
    Duration,
    /// The command run inside the stack ended with this status.
    Command(ExitStatus),
}

/// Starts the stack, runs it and stops it; an error names the part that failed and its log.
pub fn run(
    config: &UpConfig,
    cancel: &CancellationToken,
    runtime: &tokio::runtime::Handle,
) -> Result<Ending, StackError> {
    let dir = prepare_dir(&config.dir)?;
    let mut stack = start(config, &dir, cancel, runtime)?;
    let info = stack.info(&dir, config);
    let env_file = config
        .env_file
        .clone()
        .unwrap_or_else(|| dir.join("stack.env"));
    write_atomically(&env_file, &info.env_file())?;
    println!("{}", info.banner());
    let ending = stack.supervise(config, &info, cancel);
    match &ending {
        Ok(Ending::Signal) => say("stop signal: stopping"),
        Ok(Ending::Duration) => say("duration reached: stopping"),
        Ok(Ending::Command(status)) => say(format!("the command ended ({status}): stopping")),
        Err(e) => say(format!("{e}: stopping")),
    }
    let stopped = stack.stop(&dir);
    let _ = std::fs::remove_file(&env_file);
    let ending = ending?;
    stopped?;
    say("stopped");
    Ok(ending)
}

/// Progress, on stderr.
pub fn say(line: impl Display) {
    eprintln!("aegis-stack: {line}");
}

fn write_atomically(path: &Path, text: &str) -> Result<(), StackError> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    std::fs::write(&temp, text).map_err(StackError::file("cannot write", &temp))?;
    std::fs::rename(&temp, path).map_err(StackError::file("cannot write", path))
}

/// Makes `dir` empty and the stack's own; returns its absolute path.
fn prepare_dir(dir: &Path) -> Result<PathBuf, StackError> {
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            if !dir.join(MARKER).is_file() {
                return Err(StackError::ForeignDirectory(dir.to_owned()));
            }
            std::fs::remove_dir_all(dir).map_err(StackError::file("cannot empty", dir))?;
        }
    }
    std::fs::create_dir_all(dir).map_err(StackError::file("cannot create", dir))?;
    let marker = dir.join(MARKER);
    std::fs::write(&marker, "made by aegis-stack up; replaced at each start\n")
        .map_err(StackError::file("cannot write", &marker))?;
    dir.canonicalize()
        .map_err(StackError::file("cannot read", dir))
}

impl Stack {
    fn info(&self, dir: &Path, config: &UpConfig) -> StackInfo {
        let endpoint = |part: &Part| Endpoint {
            url: part.url.clone(),
            pid: part.service.pid(),
        };
        StackInfo {
            dir: dir.to_owned(),
            bin_dir: config.bin_dir.clone(),
            brokers: self.broker.bootstrap(),
            broker_pid: self.broker.pid(),
            scorers: self.scorers.iter().map(endpoint).collect(),
            outcomes: endpoint(&self.outcomes),
            producer: endpoint(&self.producer),
            prometheus: self.prometheus.as_ref().map(endpoint),
        }
    }

    fn services(&mut self) -> impl Iterator<Item = &mut Service> {
        self.scorers
            .iter_mut()
            .chain(std::iter::once(&mut self.outcomes))
            .chain(std::iter::once(&mut self.producer))
            .chain(self.prometheus.as_mut())
            .map(|part| &mut part.service)
    }

    /// Runs the command (if any) and watches every part until the stack should stop.
    fn supervise(
        &mut self,
        config: &UpConfig,
        info: &StackInfo,
        cancel: &CancellationToken,
    ) -> Result<Ending, StackError> {
        let mut command = match config.command.split_first() {
            Some((program, args)) => Some(Inside::spawn(program, args, info)?),
            None => None,
        };
        let deadline = config.duration.map(|d| Instant::now() + d);
        let ending = loop {
            if cancel.is_cancelled() {
                break Ok(Ending::Signal);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Ok(Ending::Duration);
            }
            if let Some(status) = command.as_mut().and_then(Inside::exited) {
                break Ok(Ending::Command(status));
            }
            if let Some(status) = self.broker.exited() {
                break Err(StackError::Exited {
                    name: "the broker".to_owned(),
                    status,
                    log: self.broker.log_path(),
                });
            }
            if let Err(e) = self.services().try_for_each(Service::check_running) {
                break Err(e);
            }
            std::thread::sleep(WATCH);
        };
        if let Some(command) = command.as_mut() {
            command.stop();
        }
        ending
    }

    /// Stops every part in order; the first part that did not stop cleanly is the error.
    fn stop(mut self, dir: &Path) -> Result<(), StackError> {
        let mut failures = Vec::new();
        let stopped = self.producer.service.stop(PRODUCER_GRACE);
        failures.push(failure(&self.producer.service, stopped));
        // Each scorer's final counts (`aegis-stack summary` sums them up), then all drain at once.
        let agent = wait::http_agent();
        for (i, scorer) in self.scorers.iter().enumerate() {
            if let Some(metrics) = wait::http_get(&agent, &format!("{}/metrics", scorer.url)) {
                let _ = std::fs::write(dir.join(format!("scorer-{}.metrics", i + 1)), metrics);
            }
        }
        let deadline = Instant::now() + SCORER_GRACE;
        self.scorers.iter().for_each(|s| s.service.terminate());
        for scorer in &mut self.scorers {
            let stopped = scorer.service.wait_until(deadline);
            failures.push(failure(&scorer.service, stopped));
        }
        // The outcome service last of the pipeline: it joins the scorers' final verdicts first.
        if let Some(metrics) = wait::http_get(&agent, &format!("{}/metrics", self.outcomes.url)) {
            let _ = std::fs::write(dir.join("outcomes.metrics"), metrics);
        }
        let stopped = self.outcomes.service.stop(SCORER_GRACE);
        failures.push(failure(&self.outcomes.service, stopped));
        if let Some(prometheus) = self.prometheus.as_mut() {
            prometheus.service.stop(OTHER_GRACE);
        }
        self.broker.kill();
        failures.into_iter().flatten().next().map_or(Ok(()), Err)
    }
}

/// An error when `service` did not stop cleanly: killed after its grace time, or a failure status.
fn failure(service: &Service, stopped: super::process::Stopped) -> Option<StackError> {
    (stopped.killed || !stopped.status.success()).then(|| StackError::Exited {
        name: format!(
            "{}{}",
            service.name(),
            if stopped.killed {
                " (killed: it did not stop in time)"
            } else {
                ""
            }
        ),
        status: stopped.status,
        log: service.log().to_owned(),
    })
}

/// The command run inside the stack: in the caller's process group (a Ctrl-C reaches it too),
/// with the stack's variables in its environment and the caller's terminal.
struct Inside {
    child: Child,
}

impl Inside {
    fn spawn(
        program: &OsString,
        args: &[OsString],
        info: &StackInfo,
    ) -> Result<Inside, StackError> {
        let child = Command::new(program)
            .args(args)
            .envs(info.variables())
            .spawn()
            .map_err(|source| StackError::Spawn {
                name: "the command".to_owned(),
                program: PathBuf::from(program),
                source,
            })?;
        Ok(Inside { child })
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM if still running, up to [`OTHER_GRACE`] to exit, then SIGKILL.
    fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        signal(self.child.id(), Signal::TERM);
        let deadline = Instant::now() + OTHER_GRACE;
        while self.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
