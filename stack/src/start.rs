//! Starting the stack in order, each part only once the one before is ready and each wait
//! bounded: the models (live and shadow), the broker with the contract's topics, the scorers
//! (serving HTTP, then holding partitions, so traffic starts on a settled group), the shadow
//! model published on the models topic and installed by every scorer, the outcome service, the
//! producer (with labels after `--label-delay`), and Prometheus scraping every target.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::commands::{self, SpecTraffic, Training};
use crate::model::{self, ModelState};
use crate::process::Service;
use crate::up::{say, UpConfig};
use crate::{prometheus, wait, StackError};
use aegis_core::topics::TRANSACTIONS_TOPIC;
use aegis_core::Role;
use aegis_testkit::broker::{try_free_port, Broker};
use aegis_testkit::topics::{self, Topic};

/// How long topic creation may take once the broker answers.
const TOPICS_LIMIT: Duration = Duration::from_secs(10);

/// A started process that serves HTTP at `url` (`http://127.0.0.1:PORT`).
pub struct Part {
    /// The process.
    pub service: Service,
    /// Its base URL.
    pub url: String,
}

/// The running parts, in start order.
pub struct Stack {
    /// The broker.
    pub broker: Broker,
    /// The scorer replicas.
    pub scorers: Vec<Part>,
    /// The outcome service (its URL serves /metrics).
    pub outcomes: Part,
    /// The producer (its URL serves /metrics).
    pub producer: Part,
    /// Prometheus, when asked for.
    pub prometheus: Option<Part>,
}

/// Starts every part, with logs and storage in `dir`. Long: the parts in the order they depend
/// on each other — models, broker, topics, scorers (then the shadow model), outcomes, producer,
/// Prometheus — each waited for before the next, as an operator would bring them up.
pub fn start(
    config: &UpConfig,
    dir: &Path,
    cancel: &CancellationToken,
    runtime: &tokio::runtime::Handle,
) -> Result<Stack, StackError> {
    let agent = wait::http_agent();
    let models = std::iter::once((Role::Live, &config.model))
        .chain(config.shadow_model.iter().map(|m| (Role::Shadow, m)));
    for (role, file) in models {
        let training = match &config.spec {
            Some(traffic) => Training::Spec(traffic),
            None => Training::Paysim(role),
        };
        match model::ensure_trained(&config.binaries, file, training)? {
            ModelState::Trained => say(format!(
                "trained the {} model {} (log: {})",
                role.as_str(),
                file.display(),
                model::train_log(file).display()
            )),
            ModelState::UpToDate => say(format!("{} is up to date", file.display())),
        }
        wait::not_cancelled(cancel)?;
    }

    let broker = Broker::start_in(&dir.join("broker"), port()?)?;
    let brokers = broker.bootstrap();
    let mut wanted = Topic::contract();
    if let Some(traffic) = &config.spec {
        wanted.extend(repartition_topics(traffic, &wanted)?);
    }
    let topics = runtime.block_on(topics::create(&brokers, &wanted, TOPICS_LIMIT))?;
    let topics: Vec<String> = topics
        .iter()
        .map(|(t, _)| format!("{} ({})", t.name, t.partitions))
        .collect();
    say(format!("broker on {brokers}; topics {}", topics.join(", ")));

    let keys = crate::keys::ensure(dir)?;
    let mut scorers = Vec::new();
    for i in 1..=config.scorers {
        let port = port()?;
        let scorer = commands::Scorer {
            brokers: &brokers,
            group_id: &config.group_id,
            model: &config.model,
            port,
            live_view: config.live_view.as_deref(),
            trusted_keys: Some(&keys.public),
        };
        let command = match &config.spec {
            Some(traffic) => {
                commands::scorer_with_rules(&config.binaries, &scorer, &traffic.rules)?
            }
            None => commands::scorer(&config.binaries, &scorer)?,
        };
        let mut part = Part {
            service: Service::spawn(&format!("scorer-{i}"), command, dir)?,
            url: format!("http://127.0.0.1:{port}"),
        };
        part.wait_http("/healthz", config, cancel, &agent)?;
        scorers.push(part);
    }
    for scorer in &mut scorers {
        scorer.wait_partitions(config, cancel, &agent)?;
    }
    say(format!(
        "{} scorers hold partitions (group {})",
        scorers.len(),
        config.group_id
    ));
    if let Some(shadow) = &config.shadow_model {
        publish_shadow(config, dir, &brokers, shadow, &scorers, cancel, &agent)?;
    }

    let outcomes_port = port()?;
    let outcomes_group = format!("{}-outcomes", config.group_id);
    let command = commands::outcomes(
        &config.binaries,
        &commands::Outcomes {
            brokers: &brokers,
            group_id: &outcomes_group,
            port: outcomes_port,
        },
    )?;
    let mut outcomes = Part {
        service: Service::spawn("outcomes", command, dir)?,
        url: format!("http://127.0.0.1:{outcomes_port}"),
    };
    outcomes.wait_http("/healthz", config, cancel, &agent)?;
    say(format!(
        "outcome service joining verdicts with labels (group {outcomes_group})"
    ));

    let metrics_port = port()?;
    let producer = commands::Producer {
        brokers: &brokers,
        rate: config.rate,
        takeover_every: config.takeover_every,
        seed: config.seed,
        label_delay: config.label_delay,
        label_share: config.label_share,
        metrics_port,
    };
    let (command, doing) = match &config.spec {
        Some(traffic) => (
            commands::spec_producer(&config.binaries, &producer, traffic)?,
            format!(
                "replaying {} ({} s of event time a second)",
                traffic.data.display(),
                traffic.speedup
            ),
        ),
        None => (
            commands::producer(&config.binaries, &producer)?,
            format!("simulating {} transactions/s", config.rate),
        ),
    };
    let mut service = Service::spawn("producer", command, dir)?;
    if config.spec.is_some() {
        service = service.finite(); // the replay ends; the stack stays up for the page
    }
    let mut producer = Part {
        service,
        url: format!("http://127.0.0.1:{metrics_port}"),
    };
    producer.wait_http("/metrics", config, cancel, &agent)?;
    say(format!(
        "producer {doing}, labels {} later",
        aegis_kafka::duration::show(config.label_delay)
    ));

    let prometheus = if config.prometheus {
        Some(start_prometheus(
            config, dir, &scorers, &outcomes, &producer, cancel, &agent,
        )?)
    } else {
        None
    };
    Ok(Stack {
        broker,
        scorers,
        outcomes,
        producer,
        prometheus,
    })
}

/// The repartition topics a spec's scorers need (`transactions.by.<ENTITY>` for each entity with
/// features other than the spec's key, as many partitions as the transactions topic:
/// docs/streaming-features.md) that `contract` does not list already. deploy/topics.txt lists
/// the card spec's, for compose; its row is the one created.
fn repartition_topics(traffic: &SpecTraffic, contract: &[Topic]) -> Result<Vec<Topic>, StackError> {
    let spec =
        aegis_core::spec::Spec::load(&traffic.spec).map_err(|e| StackError::Spec(e.to_string()))?;
    let key = spec.key_field().map(|f| f.name.clone()).unwrap_or_default();
    let partitions = contract
        .iter()
        .find(|t| t.name == TRANSACTIONS_TOPIC)
        .map_or(1, |t| t.partitions);
    let mut entities: Vec<&str> = spec
        .features
        .iter()
        .filter_map(|f| f.entity())
        .filter(|e| *e != key)
        .collect();
    entities.sort_unstable();
    entities.dedup();
    Ok(entities
        .into_iter()
        .map(|entity| Topic {
            name: format!("{TRANSACTIONS_TOPIC}.by.{entity}"),
            partitions,
            cleanup_policy: "delete".to_owned(),
        })
        .filter(|topic| !contract.iter().any(|listed| listed.name == topic.name))
        .collect())
}

/// Publishes `shadow` on the models topic (`aegis-trainer publish --role shadow`, its output in
/// `DIR/publish-shadow.log`) and waits until every scorer has installed it (`GET /v1/model`), so
/// that every transaction of the run is scored by both models.
fn publish_shadow(
    config: &UpConfig,
    dir: &Path,
    brokers: &str,
    shadow: &Path,
    scorers: &[Part],
    cancel: &CancellationToken,
    agent: &ureq::Agent,
) -> Result<(), StackError> {
    let log = dir.join("publish-shadow.log");
    let output = File::create(&log).map_err(StackError::file("cannot write", &log))?;
    let errors = output
        .try_clone()
        .map_err(StackError::file("cannot write", &log))?;
    // Signed with the stack's key, which its scorers trust.
    let key = crate::keys::ensure(dir)?.private;
    let mut command = commands::publish(&config.binaries, brokers, shadow, Role::Shadow, &key)?;
    let status = command
        .stdout(output)
        .stderr(errors)
        .status()
        .map_err(|source| StackError::Spawn {
            name: "aegis-trainer publish".to_owned(),
            program: config.binaries.path("aegis-trainer").unwrap_or_default(),
            source,
        })?;
    if !status.success() {
        return Err(StackError::Exited {
            name: "aegis-trainer publish --role shadow".to_owned(),
            status,
            log,
        });
    }
    let mut version = String::new();
    for scorer in scorers {
        let url = format!("{}/v1/model", scorer.url);
        let what = format!(
            "{} installing the shadow model ({url})",
            scorer.service.name()
        );
        let log = scorer.service.log().to_owned();
        wait::until(&what, config.ready_timeout, Some(&log), || {
            wait::not_cancelled(cancel)?;
            Ok(match shadow_version(&wait::http_get(agent, &url)) {
                Some(v) => {
                    version = v;
                    true
                }
                None => false,
            })
        })?;
    }
    say(format!(
        "shadow model {version} published and installed by every scorer (scored beside the live one)"
    ));
    Ok(())
}

/// The shadow model's version in a `GET /v1/model` answer, when one is installed.
fn shadow_version(answer: &Option<String>) -> Option<String> {
    let view: serde_json::Value = serde_json::from_str(answer.as_deref()?).ok()?;
    Some(view["shadow"]["model_version"].as_str()?.to_owned())
}

/// Prometheus scraping `scorers`, `outcomes` and `producer`, ready once every target is up.
fn start_prometheus(
    config: &UpConfig,
    dir: &Path,
    scorers: &[Part],
    outcomes: &Part,
    producer: &Part,
    cancel: &CancellationToken,
    agent: &ureq::Agent,
) -> Result<Part, StackError> {
    let address = |part: &Part| part.url.trim_start_matches("http://").to_owned();
    let targets: Vec<String> = scorers.iter().map(address).collect();
    let data = dir.join("prometheus");
    let file = prometheus::write_config(
        &data,
        &targets,
        &address(producer),
        &address(outcomes),
        config.scrape_interval_s,
    )?;
    let port = port()?;
    let command = commands::prometheus(&file, &data.join("data"), port)?;
    let mut part = Part {
        service: Service::spawn("prometheus", command, dir)?,
        url: format!("http://127.0.0.1:{port}"),
    };
    part.wait_http("/-/ready", config, cancel, agent)?;
    let wanted = targets.len() + 2;
    let what = format!(
        "Prometheus scraping all {wanted} targets ({}/targets)",
        part.url
    );
    let log = part.service.log().to_owned();
    wait::until(&what, config.ready_timeout, Some(&log), || {
        wait::not_cancelled(cancel)?;
        part.service.check_running()?;
        Ok(prometheus::targets_up(agent, &part.url) == Some(wanted))
    })?;
    say(format!("Prometheus scraping {wanted} targets"));
    Ok(part)
}

impl Part {
    /// Waits until `path` answers 2xx, giving up if the process exits or a stop signal comes.
    fn wait_http(
        &mut self,
        path: &str,
        config: &UpConfig,
        cancel: &CancellationToken,
        agent: &ureq::Agent,
    ) -> Result<(), StackError> {
        let url = format!("{}{path}", self.url);
        let what = format!("{} ({url})", self.service.name());
        let log = self.service.log().to_owned();
        wait::until(&what, config.ready_timeout, Some(&log), || {
            wait::not_cancelled(cancel)?;
            self.service.check_running()?;
            Ok(wait::http_ok(agent, &url))
        })
    }

    /// Waits until the scorer holds input partitions (listed by its `/readyz`), giving up if the
    /// process exits or a stop signal comes.
    fn wait_partitions(
        &mut self,
        config: &UpConfig,
        cancel: &CancellationToken,
        agent: &ureq::Agent,
    ) -> Result<(), StackError> {
        let what = format!("{} ({}/readyz: partitions)", self.service.name(), self.url);
        let log = self.service.log().to_owned();
        wait::until(&what, config.ready_timeout, Some(&log), || {
            wait::not_cancelled(cancel)?;
            self.service.check_running()?;
            Ok(wait::holds_partitions(agent, &self.url))
        })
    }
}

/// A free loopback port.
fn port() -> Result<u16, StackError> {
    try_free_port().map_err(StackError::file("cannot bind a port on", "127.0.0.1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_the_card_specs_repartition_topic_as_the_stack_derives_it() {
        // compose's topics job creates the topics of deploy/topics.txt and no others, so the card
        // pipeline there (compose.cards.yaml) needs the table to hold what `up --spec` derives.
        let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let traffic = SpecTraffic {
            spec: repository.join("specs/cards.toml"),
            data: repository.join("data/cards_every_10th_card_2018-04-01_2018-05-31.csv"),
            rules: repository.join("deploy/rules/cards.json"),
            speedup: 1.0,
        };
        let contract = Topic::contract();
        let transactions: Vec<Topic> = contract
            .iter()
            .filter(|t| t.name == TRANSACTIONS_TOPIC)
            .cloned()
            .collect();
        let derived = repartition_topics(&traffic, &transactions).unwrap();
        assert_eq!(
            derived.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["transactions.by.TERMINAL_ID"]
        );
        for topic in &derived {
            assert!(
                contract.contains(topic),
                "deploy/topics.txt lacks {topic:?}"
            );
        }
        assert!(repartition_topics(&traffic, &contract).unwrap().is_empty());
    }
}
