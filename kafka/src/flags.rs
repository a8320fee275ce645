//! The librdkafka-properties flags of every Aegis binary: `-X key=value`, as kcat takes it, and
//! `--kafka-config FILE`, a properties file as Kafka's own tools take one. The file is the place
//! for TLS and SASL settings and secrets: a command line is visible to every local user, and a
//! file can hold values with commas, which an environment list could not.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::{check_properties, ClusterCheck, ClusterError, Property};

/// `--connect-timeout`, to `#[command(flatten)]` into a service's flags: how long it waits at
/// start for its brokers and topics, since brokers and topic-creation jobs often start beside it.
#[derive(clap::Args, Clone, Debug)]
pub struct ConnectFlags {
    /// How long to wait at start for the brokers to answer and the topics this service reads and
    /// writes to exist, asking again every few seconds and logging each miss, before giving up.
    #[arg(
        long = "connect-timeout",
        env = "AEGIS_CONNECT_TIMEOUT",
        default_value = "30s",
        value_name = "DURATION",
        value_parser = crate::duration::secs(0, 86_400)
    )]
    pub connect_timeout_secs: u64,
}

impl Default for ConnectFlags {
    /// The flag's default, 30 s.
    fn default() -> Self {
        ConnectFlags {
            connect_timeout_secs: 30,
        }
    }
}

/// `--topic-prefix`, to `#[command(flatten)]` into the flags of every binary that names topics:
/// one deployment's topics and consumer groups apart from another's on a shared cluster.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TopicPrefix {
    /// Put before the name of every topic this binary reads or writes (given or default; derived
    /// ones too, such as a repartition topic), and before its consumer group if it has one, so
    /// that two deployments can share a cluster: with `staging.`, the transactions topic is
    /// `staging.transactions`. Empty (the default): the names as given. A topic turned off with
    /// `""` stays off.
    #[arg(
        long,
        env = "AEGIS_TOPIC_PREFIX",
        value_name = "PREFIX",
        default_value_t = String::new(),
        hide_default_value = true
    )]
    pub topic_prefix: String,
}

impl TopicPrefix {
    /// `name` with the prefix; `""` (a topic turned off) stays `""`.
    pub fn topic(&self, name: &str) -> String {
        if name.is_empty() {
            String::new()
        } else {
            format!("{}{name}", self.topic_prefix)
        }
    }

    /// Puts the prefix before each of `names` in place (see [`TopicPrefix::topic`]).
    pub fn apply(&self, names: &mut [&mut String]) {
        for name in names {
            **name = self.topic(name);
        }
    }
}

impl ConnectFlags {
    /// Asks `brokers` for `topics` (each with the flag that named it) until they answer with all
    /// of them, for at most `--connect-timeout` (see [`ClusterCheck::wait_for_topics`]).
    /// `Ok(false)`: `cancel` fired meanwhile.
    pub async fn wait_for_topics(
        &self,
        brokers: &str,
        kafka: &KafkaFlags,
        topics: Vec<(String, &'static str)>,
        cancel: &CancellationToken,
    ) -> Result<bool, ClusterError> {
        let budget = std::time::Duration::from_secs(self.connect_timeout_secs);
        ClusterCheck::new(brokers, &kafka.properties())?
            .wait_for_topics_async(topics, budget, cancel.clone())
            .await
    }
}

/// `-X` and `--kafka-config`, to `#[command(flatten)]` into a binary's flags.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct KafkaFlags {
    /// A file of librdkafka properties, one `key=value` per line (blank lines and `#` comments
    /// skipped), like Kafka's `client.properties`: the place for TLS, SASL and secrets. Checked
    /// when read. Repeatable: settings in one file (a ConfigMap), credentials in another (a
    /// Secret); a later file wins over an earlier one, and `-X` over both.
    #[arg(
        long,
        env = "AEGIS_KAFKA_CONFIG",
        value_name = "FILE",
        value_parser = PropertiesFile::read
    )]
    pub kafka_config: Vec<PropertiesFile>,
    /// librdkafka property for all clients, as kcat takes it (TLS, SASL, tuning); one per flag,
    /// repeatable, the value taken whole (commas included). Secret values are never logged.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub set: Vec<Property>,
}

impl KafkaFlags {
    /// Flags with these `-X` properties and no file.
    pub fn with(set: Vec<Property>) -> Self {
        KafkaFlags {
            kafka_config: Vec::new(),
            set,
        }
    }

    /// The files' properties in order, then the `-X` ones: a client config keeps the last value
    /// of a key, so a later file wins over an earlier one and `-X` over both.
    pub fn properties(&self) -> Vec<Property> {
        let file = self.kafka_config.iter().flat_map(|f| f.properties.iter());
        file.chain(&self.set).cloned().collect()
    }
}

/// A librdkafka properties file, read and checked.
#[derive(Clone, Debug)]
pub struct PropertiesFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its properties, in file order.
    pub properties: Vec<Property>,
}

impl PropertiesFile {
    /// Reads and checks a properties file (the `--kafka-config` value parser). The error says
    /// which line is wrong, and never quotes the line: it may hold a secret.
    pub fn read(path: &str) -> Result<PropertiesFile, String> {
        let path = Path::new(path);
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let properties = Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(PropertiesFile {
            path: path.to_owned(),
            properties,
        })
    }

    /// Parses `key=value` lines as Kafka's `client.properties` are read: blanks around the key
    /// and before the value are dropped; the rest of the line is the value, as written (`=`,
    /// commas and trailing blanks included).
    pub fn parse(text: &str) -> Result<Vec<Property>, String> {
        let mut properties = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let number = index + 1;
            let property = match line.split_once('=') {
                Some((key, value)) if !key.trim().is_empty() => Property {
                    key: key.trim().to_owned(),
                    value: value.trim_start().to_owned(),
                },
                _ => {
                    return Err(format!(
                        "line {number}: expected key=value (the line is not shown: it may hold a secret)"
                    ))
                }
            };
            check_properties(std::slice::from_ref(&property)).map_err(|e| match e {
                ClusterError::InvalidProperty { key, reason } => {
                    format!("line {number}: {key}: {reason}")
                }
                other => format!("line {number}: {other}"),
            })?;
            properties.push(property);
        }
        Ok(properties)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn property(key: &str, value: &str) -> Property {
        Property {
            key: key.to_owned(),
            value: value.to_owned(),
        }
    }

    #[test]
    fn lines_are_key_value_with_comments_blanks_and_commas() {
        let text = "# the cluster\n\n  security.protocol = SASL_SSL\n\
                    sasl.mechanism=SCRAM-SHA-512\nsasl.password=a,b=c \r\n\tdebug=broker,topic\n";
        assert_eq!(
            PropertiesFile::parse(text).unwrap(),
            vec![
                property("security.protocol", "SASL_SSL"),
                property("sasl.mechanism", "SCRAM-SHA-512"),
                property("sasl.password", "a,b=c "),
                property("debug", "broker,topic"),
            ]
        );
    }

    #[test]
    fn a_bad_line_is_named_without_its_text() {
        let err = PropertiesFile::parse("client.id=a\nsasl.password hunter2\n").unwrap_err();
        assert_eq!(
            err,
            "line 2: expected key=value (the line is not shown: it may hold a secret)"
        );
        let err = PropertiesFile::parse("sasl.pasword=hunter2\n").unwrap_err();
        assert!(err.starts_with("line 1: sasl.pasword: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = PropertiesFile::parse("acks=maybe\n").unwrap_err();
        assert!(err.starts_with("line 1: acks: "), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = PropertiesFile::read("/nonexistent/aegis.properties").unwrap_err();
        assert!(
            err.starts_with("cannot read /nonexistent/aegis.properties: "),
            "{err}"
        );
    }

    #[test]
    fn dash_x_comes_after_the_files_so_it_wins_and_a_later_file_over_an_earlier() {
        let flags = KafkaFlags {
            kafka_config: vec![
                PropertiesFile {
                    path: "settings".into(),
                    properties: vec![property("client.id", "file"), property("acks", "all")],
                },
                PropertiesFile {
                    path: "credentials".into(),
                    properties: vec![property("sasl.username", "u"), property("acks", "1")],
                },
            ],
            set: vec![property("client.id", "flag")],
        };
        let merged = flags.properties();
        assert_eq!(
            merged,
            vec![
                property("client.id", "file"),
                property("acks", "all"),
                property("sasl.username", "u"),
                property("acks", "1"),
                property("client.id", "flag"),
            ]
        );
        let config = crate::client_config("b:9092", &[], &merged);
        assert_eq!(config.get("client.id"), Some("flag"));
        assert_eq!(config.get("acks"), Some("1"));
        assert_eq!(config.get("sasl.username"), Some("u"));
    }

    #[test]
    fn kafka_config_is_repeatable() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            kafka: KafkaFlags,
        }
        let dir = tempfile::tempdir().unwrap();
        let (settings, credentials) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&settings, "security.protocol=SASL_SSL\n").unwrap();
        std::fs::write(&credentials, "sasl.username=aegis\n").unwrap();
        let cli = Cli::try_parse_from([
            "x",
            "--kafka-config",
            settings.to_str().unwrap(),
            "--kafka-config",
            credentials.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(
            cli.kafka.properties(),
            vec![
                property("security.protocol", "SASL_SSL"),
                property("sasl.username", "aegis"),
            ]
        );
    }
}
