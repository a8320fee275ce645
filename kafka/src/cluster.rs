//! The start-up check every binary makes: do the brokers answer, and do they hold the topics it
//! needs? Errors are one line naming the flag to fix, and never hold a secret.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, ClientContext};

use tokio_util::sync::CancellationToken;

use crate::properties::{client_config, Property};

/// Longest single metadata request while waiting for Kafka (the connection carries on between
/// requests).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Shortest one, so that a zero budget still asks once.
const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause between two requests.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// How often a pause looks at the cancellation token.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// Why a binary cannot start on the Kafka cluster it was pointed at. Every message is one line
/// naming the problem and the flag to fix; a secret value is never part of it.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// librdkafka refused a `-X` property (unknown key or invalid value).
    #[error("-X {key}: {reason}")]
    InvalidProperty {
        /// The property name.
        key: String,
        /// librdkafka's words (never the value of a free-text property such as a password).
        reason: String,
    },
    /// The client could not be created (for example a TLS key that does not load).
    #[error("cannot create a Kafka client: {reason}; check the -X / --kafka-config properties")]
    Client {
        /// librdkafka's words.
        reason: String,
    },
    /// No broker answered a metadata request in time.
    #[error(
        "cannot reach the Kafka brokers at {brokers} ({reason}): check --brokers, and -X / \
         --kafka-config properties such as security.protocol"
    )]
    Unreachable {
        /// The bootstrap servers.
        brokers: String,
        /// The last connection error librdkafka reported.
        reason: String,
    },
    /// A topic the binary needs does not exist.
    #[error(
        "topic {topic:?} does not exist on {brokers}: create it (e.g. `rpk topic create {topic}`) \
         or pass another {flag}"
    )]
    MissingTopic {
        /// The bootstrap servers.
        brokers: String,
        /// The topic.
        topic: String,
        /// The flag that names it.
        flag: String,
    },
    /// The brokers did not answer with every topic before the deadline; `last` is the last miss.
    #[error("Kafka not ready after {after:?} (--connect-timeout): {last}")]
    NotReady {
        /// The budget that ran out.
        after: Duration,
        /// Why the last attempt failed.
        last: Box<ClusterError>,
    },
    /// The brokers report an error for a topic (for example, not authorized to describe it).
    #[error("topic {topic:?} on {brokers}: {reason}")]
    Topic {
        /// The bootstrap servers.
        brokers: String,
        /// The topic.
        topic: String,
        /// The broker's error.
        reason: String,
    },
}

impl ClusterError {
    /// Whether asking again later may succeed: brokers still starting, topics still being created.
    /// A bad property never fixes itself.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ClusterError::Unreachable { .. }
                | ClusterError::MissingTopic { .. }
                | ClusterError::Topic { .. }
        )
    }
}

/// Checks every property with librdkafka without connecting anywhere: an unknown key or an invalid
/// value is an error naming the key. Unlike the client's own error, the message does not end with
/// the value, so a mistyped secret key (`sasl.pasword=…`) does not print the secret.
pub fn check_properties(properties: &[Property]) -> Result<(), ClusterError> {
    for p in properties {
        let mut config = ClientConfig::new();
        config.set(&p.key, &p.value);
        if let Err(e) = config.create_native_config() {
            // librdkafka's description quotes a value only for typed (enum, number, boolean)
            // properties, none of which is a secret.
            let reason = match e {
                KafkaError::ClientConfig(_, description, _, _) => description,
                other => other.to_string(),
            };
            return Err(ClusterError::InvalidProperty {
                key: p.key.clone(),
                reason,
            });
        }
    }
    Ok(())
}

/// A short-lived Kafka client for start-up checks: do the brokers answer, and do they hold the
/// topics a binary needs? It is a consumer without a group (which never creates topics), and it
/// keeps librdkafka's logs for its error messages instead of printing them. Its connection
/// survives between checks, so a slow TLS or SASL handshake can finish across several tries.
pub struct ClusterCheck {
    brokers: String,
    consumer: BaseConsumer<Probe>,
}

impl ClusterCheck {
    /// Checks the properties and creates the client; connecting starts in the background.
    pub fn new(brokers: &str, properties: &[Property]) -> Result<Self, ClusterError> {
        check_properties(properties)?;
        let consumer = client_config(brokers, &[], properties)
            .create_with_context(Probe::default())
            .map_err(|e| ClusterError::Client {
                reason: e.to_string(),
            })?;
        Ok(ClusterCheck {
            brokers: brokers.to_owned(),
            consumer,
        })
    }

    /// Asks, once per topic and within `timeout` each, for the metadata of `topics`; each topic
    /// comes with the flag that named it, for the message. Blocking.
    pub fn topics(&self, topics: &[(&str, &str)], timeout: Duration) -> Result<(), ClusterError> {
        for (topic, flag) in topics {
            let metadata = self
                .consumer
                .fetch_metadata(Some(topic), timeout)
                .map_err(|e| self.unreachable(e))?;
            let found = metadata.topics().iter().find(|t| t.name() == *topic);
            let (topic, brokers) = ((*topic).to_owned(), self.brokers.clone());
            match found.map(|t| t.error().map(RDKafkaErrorCode::from)) {
                Some(None) => {}
                None | Some(Some(RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                    let flag = (*flag).to_owned();
                    return Err(ClusterError::MissingTopic {
                        brokers,
                        topic,
                        flag,
                    });
                }
                Some(Some(code)) => {
                    let reason = code.to_string();
                    return Err(ClusterError::Topic {
                        brokers,
                        topic,
                        reason,
                    });
                }
            }
        }
        Ok(())
    }

    /// Asks for `topics` (each with the flag that named it) until the brokers answer with all of
    /// them, for at most `budget`; each miss is logged as a warning. Blocking: run it on a blocking
    /// thread. `Ok(false)`: `cancel` fired meanwhile. A miss that cannot fix itself (a bad
    /// property) fails at once; at the deadline the last miss comes back as
    /// [`ClusterError::NotReady`].
    pub fn wait_for_topics(
        &self,
        topics: &[(&str, &str)],
        budget: Duration,
        cancel: &CancellationToken,
    ) -> Result<bool, ClusterError> {
        let deadline = Instant::now() + budget;
        loop {
            // At most half the budget, so that a miss is logged before giving up.
            let timeout = deadline
                .saturating_duration_since(Instant::now())
                .min(ATTEMPT_TIMEOUT)
                .min(budget / 2)
                .max(MIN_ATTEMPT_TIMEOUT);
            let error = match self.topics(topics, timeout) {
                Ok(()) => return Ok(true),
                Err(e) if !e.is_transient() => return Err(e),
                Err(e) => e,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClusterError::NotReady {
                    after: budget,
                    last: Box::new(error),
                });
            }
            let left_s = left.as_secs_f64().ceil();
            tracing::warn!(%error, "Kafka not ready; asking again for up to {left_s} s");
            let resume = Instant::now() + RETRY_PAUSE.min(left);
            while Instant::now() < resume {
                if cancel.is_cancelled() {
                    return Ok(false);
                }
                std::thread::sleep(CANCEL_POLL.min(resume - Instant::now()));
            }
        }
    }

    /// [`wait_for_topics`](Self::wait_for_topics) from async code: the same wait, on a blocking
    /// thread. A start-up step of every service.
    pub async fn wait_for_topics_async(
        self,
        topics: Vec<(String, &'static str)>,
        budget: Duration,
        cancel: CancellationToken,
    ) -> Result<bool, ClusterError> {
        let waited = tokio::task::spawn_blocking(move || {
            let topics: Vec<(&str, &str)> = topics.iter().map(|(t, f)| (t.as_str(), *f)).collect();
            self.wait_for_topics(&topics, budget, &cancel)
        })
        .await;
        match waited {
            Ok(ready) => ready,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down: as if stopped by a signal.
            Err(_) => Ok(false),
        }
    }

    fn unreachable(&self, error: KafkaError) -> ClusterError {
        // Serve the queued logs and errors, so the reason is librdkafka's own account.
        while self.consumer.poll(Duration::ZERO).is_some() {}
        ClusterError::Unreachable {
            brokers: self.brokers.clone(),
            reason: self
                .consumer
                .context()
                .last_error()
                .unwrap_or_else(|| error.to_string()),
        }
    }
}

/// The context of a [`ClusterCheck`]: remembers librdkafka's last error or warning instead of
/// logging it, so that a failed check is one line.
#[derive(Default)]
struct Probe {
    last_error: Mutex<Option<String>>,
}

impl Probe {
    fn remember(&self, message: &str) {
        // Log lines start with the librdkafka thread, e.g. `[thrd:app]: `.
        let message = match message.split_once("]: ") {
            Some((thread, rest)) if thread.starts_with("[thrd:") => rest,
            _ => message,
        };
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message.to_owned());
        }
    }

    fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|last| last.clone())
    }
}

impl ClientContext for Probe {
    fn log(&self, level: RDKafkaLogLevel, _facility: &str, message: &str) {
        use RDKafkaLogLevel::{Alert, Critical, Emerg, Error, Warning};
        if matches!(level, Emerg | Alert | Critical | Error | Warning) {
            self.remember(message);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.remember(
            if reason.is_empty() {
                error.to_string()
            } else {
                reason.to_owned()
            }
            .as_str(),
        );
    }
}

impl ConsumerContext for Probe {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::describe;

    #[test]
    fn properties_parse_and_secrets_are_masked() {
        let p: Property = "sasl.password=s3cr=t".parse().unwrap();
        assert_eq!(
            (p.key.as_str(), p.value.as_str()),
            ("sasl.password", "s3cr=t")
        );
        assert!(p.is_secret());
        assert_eq!(p.redacted(), "sasl.password=***");
        assert_eq!(format!("{p:?}"), "sasl.password=***");
        let q: Property = "security.protocol=SASL_SSL".parse().unwrap();
        assert!(!q.is_secret());
        assert_eq!(
            describe(&[q, p]),
            "security.protocol=SASL_SSL sasl.password=***"
        );
        for secret in [
            "ssl.key.password",
            "sasl.oauthbearer.client.secret",
            "ssl.keystore.password",
        ] {
            assert!(
                format!("{secret}=x")
                    .parse::<Property>()
                    .unwrap()
                    .is_secret(),
                "{secret}"
            );
        }
        assert!("novalue".parse::<Property>().is_err());
        assert!("=x".parse::<Property>().is_err());
    }

    #[test]
    fn secret_markers_cover_what_librdkafka_redacts() {
        for secret in [
            "sasl.oauthbearer.config",
            "ssl.key.pem",
            "ssl.ca.pem",
            "sasl.oauthbearer.assertion.private.key.passphrase",
            "sasl.username",
        ] {
            let p: Property = format!("{secret}=x").parse().unwrap();
            assert!(p.is_secret(), "{secret}");
        }
        for public in ["sasl.mechanism", "ssl.ca.location", "security.protocol"] {
            let p: Property = format!("{public}=x").parse().unwrap();
            assert!(!p.is_secret(), "{public}");
        }
    }

    #[test]
    fn a_bad_property_is_named_without_its_value() {
        let mistyped: Property = "sasl.pasword=hunter2".parse().unwrap();
        // The client's own error ends with the value: the path this check closes.
        let client_error = client_config("b:9092", &[], std::slice::from_ref(&mistyped))
            .create::<BaseConsumer>()
            .err()
            .unwrap()
            .to_string();
        assert!(client_error.contains("hunter2"), "{client_error}");
        let error = check_properties(&[mistyped]).unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("-X sasl.pasword: "), "{message}");
        assert!(
            message.contains("No such configuration property"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!error.is_transient());

        let invalid: Property = "acks=several".parse().unwrap();
        let message = check_properties(&[invalid]).unwrap_err().to_string();
        assert!(message.starts_with("-X acks: Invalid value"), "{message}");
        let fine: Vec<Property> = ["security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512"]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        assert!(check_properties(&fine).is_ok());
    }

    #[test]
    fn an_unreachable_broker_is_one_transient_line_with_librdkafkas_reason() {
        let check = ClusterCheck::new("127.0.0.1:1", &[]).unwrap();
        let error = check
            .topics(
                &[("transactions", "--transactions-topic")],
                Duration::from_millis(500),
            )
            .unwrap_err();
        assert!(error.is_transient());
        let message = error.to_string();
        assert!(
            message.starts_with("cannot reach the Kafka brokers at 127.0.0.1:1 (")
                && message.contains("(127.0.0.1:1/bootstrap: Connect to")
                && message.contains("Connection refused")
                && message.contains("check --brokers"),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }

    /// Keeps every librdkafka log line.
    #[derive(Default)]
    struct Captured(Mutex<Vec<String>>);

    impl ClientContext for Captured {
        fn log(&self, _: RDKafkaLogLevel, _: &str, message: &str) {
            self.0.lock().unwrap().push(message.to_owned());
        }
    }

    impl ConsumerContext for Captured {}

    #[test]
    fn librdkafkas_configuration_dump_redacts_secrets() {
        // `-X debug=conf` makes librdkafka log every property; the binaries route its logs to
        // theirs. Our own markers must cover what it shows.
        let properties: Vec<Property> = [
            "debug=conf",
            "sasl.password=hunter2",
            "ssl.key.password=k3y-pass",
            "sasl.oauthbearer.config=principal=p0wn",
            "sasl.username=b0b",
            "client.id=aegis-test",
        ]
        .iter()
        .map(|p| p.parse().unwrap())
        .collect();
        let consumer: BaseConsumer<Captured> = client_config("127.0.0.1:1", &[], &properties)
            .create_with_context(Captured::default())
            .unwrap();
        while consumer.poll(Duration::from_millis(100)).is_some() {}
        let lines = consumer.context().0.lock().unwrap().join("\n");
        assert!(lines.contains("client.id = aegis-test"), "{lines}");
        for p in &properties[1..5] {
            assert!(
                lines.contains(&format!("{} = [redacted]", p.key)),
                "{lines}"
            );
            assert!(!lines.contains(&p.value), "{} leaked", p.key);
            assert!(p.is_secret(), "{} is logged by describe()", p.key);
        }
    }

    #[test]
    fn user_properties_override_defaults() {
        let user: Property = "linger.ms=50".parse().unwrap();
        let config = client_config("b:9092", &[("linger.ms", "5"), ("acks", "all")], &[user]);
        assert_eq!(config.get("linger.ms"), Some("50"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("bootstrap.servers"), Some("b:9092"));
    }
}
