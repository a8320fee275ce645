//! One scenario's processes and steps: a broker on a fresh port with the contract's topics
//! (killed and restarted on its storage on demand), named scorer replicas in the scenario's
//! group, the producer in a thread of this process, and where the stream stands ([`stream`]:
//! snapshots of the moment of a fault, the final check). Dropping a [`Testbed`] kills whatever
//! still runs, scorers before the broker.

mod stream;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aegis_core::topics::{DLQ_TOPIC, TRANSACTIONS_TOPIC, VERDICTS_TOPIC};
use aegis_producer::ProducerConfig;
use aegis_stack::commands;
use aegis_stack::process::{Service, Stopped};
use aegis_stack::{wait, StackError};
use aegis_testkit::broker::{try_free_port, Broker};
use aegis_testkit::topics::{self, Topic};
use tokio_util::sync::CancellationToken;

use super::producer::ProducerRun;
use super::{ScenarioError, Settings};
use crate::check::Topics;
pub use stream::CheckPlan;

/// How long a scorer may take to serve `/healthz` after it was started.
const SERVING_LIMIT: Duration = Duration::from_secs(30);
/// How long a scorer may take to hold partitions (`/readyz`) once the group forms.
const READY_LIMIT: Duration = Duration::from_secs(60);
/// How long topic creation may take once the broker answers.
const TOPICS_LIMIT: Duration = Duration::from_secs(30);
/// How long [`Testbed::ask`] asks again while a scorer is full or silent.
const ASK_LIMIT: Duration = Duration::from_secs(5);
/// How long a scorer told to stop may take to drain and commit before it is killed.
const SCORER_GRACE: Duration = Duration::from_secs(20);
/// The producer's seed: the same transactions in every run.
const PRODUCER_SEED: u64 = 11;

/// A scorer replica and its HTTP port on 127.0.0.1.
struct Replica {
    service: Service,
    port: u16,
}

/// The running processes of one scenario. Fields drop in order: scorers, then the broker.
pub struct Testbed<'a> {
    scorers: BTreeMap<String, Replica>,
    broker: Option<Broker>,
    port: u16,
    topics: Topics,
    dir: PathBuf,
    settings: &'a Settings,
    runtime: &'a tokio::runtime::Handle,
    cancel: &'a CancellationToken,
    agent: ureq::Agent,
}

impl<'a> Testbed<'a> {
    /// A fresh broker on a free port with its storage in `dir/broker`, holding the contract's
    /// topics; scorers started later join `group`.
    pub fn start(
        dir: &Path,
        group: &str,
        settings: &'a Settings,
        runtime: &'a tokio::runtime::Handle,
        cancel: &'a CancellationToken,
    ) -> Result<Testbed<'a>, ScenarioError> {
        let port =
            try_free_port().map_err(StackError::file("cannot bind a port on", "127.0.0.1"))?;
        let mut bed = Testbed {
            scorers: BTreeMap::new(),
            broker: None,
            port,
            topics: Topics {
                brokers: format!("127.0.0.1:{port}"),
                group: group.to_owned(),
                input: TRANSACTIONS_TOPIC.to_owned(),
                verdicts: VERDICTS_TOPIC.to_owned(),
                dlq: DLQ_TOPIC.to_owned(),
            },
            dir: dir.to_owned(),
            settings,
            runtime,
            cancel,
            agent: wait::http_agent(),
        };
        bed.start_broker()?;
        Ok(bed)
    }

    /// The broker on the testbed's port and storage (again, after [`Testbed::kill_broker`]),
    /// ready once it answers and holds the contract's topics.
    pub fn start_broker(&mut self) -> Result<(), ScenarioError> {
        let broker = Broker::start_in(&self.dir.join("broker"), self.port)?;
        self.broker = Some(broker);
        self.runtime.block_on(topics::create(
            &self.topics.brokers,
            &Topic::contract(),
            TOPICS_LIMIT,
        ))?;
        Ok(())
    }

    /// Kills the broker (SIGKILL), as a crash would; its storage stays.
    pub fn kill_broker(&mut self) {
        if let Some(mut broker) = self.broker.take() {
            broker.kill();
        }
    }

    /// The bootstrap servers.
    pub fn brokers(&self) -> &str {
        &self.topics.brokers
    }

    /// The scenario's directory (logs, storage, snapshot, manifest).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts scorer replica `name` in the group, its log in `DIR/NAME.log`, and waits until it
    /// serves HTTP.
    pub fn start_scorer(&mut self, name: &str) -> Result<(), ScenarioError> {
        self.start_scorer_with(name, &[])
    }

    /// [`Testbed::start_scorer`] with `flags` added to the scorer's command line.
    pub fn start_scorer_with(&mut self, name: &str, flags: &[String]) -> Result<(), ScenarioError> {
        let port =
            try_free_port().map_err(StackError::file("cannot bind a port on", "127.0.0.1"))?;
        let keys = aegis_stack::keys::ensure(&self.dir)?;
        let scorer = commands::Scorer {
            brokers: &self.topics.brokers,
            group_id: &self.topics.group,
            model: &self.settings.model,
            port,
            live_view: None,
            trusted_keys: Some(&keys.public),
        };
        let mut command = commands::scorer(&self.settings.binaries, &scorer)?;
        command.args(flags);
        let service = Service::spawn(name, command, &self.dir)?;
        self.scorers
            .insert(name.to_owned(), Replica { service, port });
        self.wait_http(name, "/healthz", SERVING_LIMIT)
    }

    /// The HTTP address of scorer `name`.
    pub fn scorer_addr(&mut self, name: &str) -> Result<SocketAddr, ScenarioError> {
        let port = replica(&mut self.scorers, name)?.port;
        Ok(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// The process id of scorer `name`.
    pub fn scorer_pid(&mut self, name: &str) -> Result<u32, ScenarioError> {
        Ok(replica(&mut self.scorers, name)?.service.pid())
    }

    /// Waits until every named scorer holds partitions (listed by its `/readyz`), so that traffic
    /// starts on a settled group rather than in its first rebalance.
    pub fn wait_ready(&mut self, names: &[&str]) -> Result<(), ScenarioError> {
        names.iter().try_for_each(|name| {
            self.wait_until(name, "/readyz", READY_LIMIT, |agent, base, _| {
                wait::holds_partitions(agent, base)
            })
        })
    }

    fn wait_http(&mut self, name: &str, path: &str, limit: Duration) -> Result<(), ScenarioError> {
        self.wait_until(name, path, limit, |agent, _, url| wait::http_ok(agent, url))
    }

    /// Waits, at most `limit`, until `ready(agent, base URL, base + path)` holds for scorer `name`.
    fn wait_until(
        &mut self,
        name: &str,
        path: &str,
        limit: Duration,
        ready: impl Fn(&ureq::Agent, &str, &str) -> bool,
    ) -> Result<(), ScenarioError> {
        let cancel = self.cancel;
        let agent = &self.agent;
        let replica = replica(&mut self.scorers, name)?;
        let base = format!("http://127.0.0.1:{}", replica.port);
        let url = format!("{base}{path}");
        let what = format!("{name} ({url})");
        let log = replica.service.log().to_owned();
        wait::until(&what, limit, Some(&log), || {
            wait::not_cancelled(cancel)?;
            replica.service.check_running()?;
            Ok(ready(agent, &base, &url))
        })?;
        Ok(())
    }

    /// Kills scorer `name` (SIGKILL), as a crash would.
    pub fn kill_scorer(&mut self, name: &str) -> Result<(), ScenarioError> {
        let mut replica = self.remove(name)?;
        replica.service.kill();
        Ok(())
    }

    /// Sends scorer `name` SIGTERM and waits (bounded) for it to exit.
    pub fn terminate_scorer(&mut self, name: &str) -> Result<Stopped, ScenarioError> {
        let mut replica = self.remove(name)?;
        Ok(replica.service.stop(SCORER_GRACE))
    }

    fn remove(&mut self, name: &str) -> Result<Replica, ScenarioError> {
        self.scorers
            .remove(name)
            .ok_or_else(|| ScenarioError::Violated(format!("no scorer called {name}")))
    }

    /// An error unless scorer `name` is still the process that was started and answers
    /// `/healthz` (asked again while it is full: [`Testbed::ask`]).
    pub fn still_running(&mut self, name: &str) -> Result<(), ScenarioError> {
        let replica = replica(&mut self.scorers, name)?;
        if let Some(status) = replica.service.exited() {
            return Err(ScenarioError::Violated(format!(
                "{name} is no longer running ({status}); its log: {}",
                replica.service.log().display()
            )));
        }
        match self.ask(name, "/healthz", None)? {
            Some((200, _)) => Ok(()),
            answer => Err(ScenarioError::Violated(format!(
                "{name} does not answer /healthz with 200: {answer:?}"
            ))),
        }
    }

    /// `GET path` of scorer `name`, or `POST path` with the JSON `body`; asked again, for at most
    /// [`ASK_LIMIT`], while the scorer is full (503) or does not answer. The status and body of
    /// its last answer, `None` if it never answered.
    pub fn ask(
        &mut self,
        name: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<Option<(u16, String)>, ScenarioError> {
        let url = format!(
            "http://127.0.0.1:{}{path}",
            replica(&mut self.scorers, name)?.port
        );
        let deadline = Instant::now() + ASK_LIMIT;
        let mut last = None;
        loop {
            let answer = match body {
                Some(body) => self
                    .agent
                    .post(&url)
                    .header("content-type", "application/json")
                    .send(body),
                None => self.agent.get(&url).call(),
            };
            if let Ok(mut response) = answer {
                let status = response.status().as_u16();
                let text = response.body_mut().read_to_string().unwrap_or_default();
                last = Some((status, text));
                if status != 503 {
                    return Ok(last);
                }
            }
            if Instant::now() >= deadline {
                return Ok(last);
            }
            self.pause(Duration::from_millis(100))?;
        }
    }

    /// The log of scorer `name` (also after it stopped).
    pub fn log_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Starts the producer in a thread: `count` simulated transactions at `rate` per second.
    pub fn start_producer(&self, count: u64, rate: f64) -> ProducerRun {
        let mut config = ProducerConfig::new(self.topics.brokers.clone(), TRANSACTIONS_TOPIC);
        config.simulate = true;
        config.count = Some(count);
        config.rate = Some(rate);
        config.seed = PRODUCER_SEED;
        ProducerRun::start(config, self.cancel.child_token())
    }

    /// Runs `work` on the scenario's runtime to its end, or until a stop signal (which drops it).
    pub fn block_on<T>(&self, work: impl Future<Output = T>) -> Result<T, ScenarioError> {
        self.runtime.block_on(async {
            tokio::select! {
                done = work => Ok(done),
                () = self.cancel.cancelled() => Err(ScenarioError::Cancelled),
            }
        })
    }

    /// Sleeps for `duration`, or until a stop signal.
    pub fn pause(&self, duration: Duration) -> Result<(), ScenarioError> {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            if self.cancel.is_cancelled() {
                return Err(ScenarioError::Cancelled);
            }
            std::thread::sleep(
                Duration::from_millis(100).min(deadline.saturating_duration_since(Instant::now())),
            );
        }
        Ok(())
    }

    /// Stops the scorers (SIGTERM, then SIGKILL after their grace time) and then the broker.
    pub fn stop(mut self) {
        let deadline = Instant::now() + SCORER_GRACE;
        self.scorers.values().for_each(|r| r.service.terminate());
        for replica in self.scorers.values_mut() {
            replica.service.wait_until(deadline);
        }
        self.scorers.clear();
        self.kill_broker();
    }
}

fn replica<'r>(
    scorers: &'r mut BTreeMap<String, Replica>,
    name: &str,
) -> Result<&'r mut Replica, ScenarioError> {
    scorers
        .get_mut(name)
        .ok_or_else(|| ScenarioError::Violated(format!("no scorer called {name}")))
}
