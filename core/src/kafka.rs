//! Kafka plumbing the producer and the scorer share: the topic names of the contract, `-X key=value`
//! librdkafka properties (as kcat takes them), and client configs whose secrets never reach a log.

use rdkafka::ClientConfig;

/// Topic the producer writes transactions to.
pub const TRANSACTIONS_TOPIC: &str = "transactions";
/// Topic the scorer writes verdicts to.
pub const VERDICTS_TOPIC: &str = "verdicts";
/// Topic the scorer writes undecodable or invalid transactions to, with the reason in headers.
pub const DLQ_TOPIC: &str = "transactions.dlq";

/// One librdkafka property given as `-X key=value`.
#[derive(Clone, PartialEq, Eq)]
pub struct Property {
    /// The librdkafka property name, e.g. `security.protocol`.
    pub key: String,
    /// Its value.
    pub value: String,
}

impl std::fmt::Debug for Property {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

impl std::str::FromStr for Property {
    type Err = String;

    /// Parses `key=value` (the value may itself contain `=`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => Ok(Property {
                key: key.trim().to_owned(),
                value: value.to_owned(),
            }),
            _ => Err(format!(
                "expected a librdkafka property as key=value (e.g. -X security.protocol=SASL_SSL), got {s:?}"
            )),
        }
    }
}

impl Property {
    /// Whether the value is a secret (passwords, keys, tokens): such values are never logged.
    pub fn is_secret(&self) -> bool {
        let key = self.key.to_ascii_lowercase();
        [
            "password",
            "secret",
            "token",
            "jaas",
            "key.pem",
            "credentials",
            "private",
        ]
        .iter()
        .any(|marker| key.contains(marker))
    }

    /// `key=value`, or `key=***` for a secret: safe to log.
    pub fn redacted(&self) -> String {
        if self.is_secret() {
            format!("{}=***", self.key)
        } else {
            format!("{}={}", self.key, self.value)
        }
    }
}

/// A client config for `brokers` with Aegis's defaults, then the user's `-X` properties on top (so
/// a user can override anything).
pub fn client_config(
    brokers: &str,
    defaults: &[(&str, &str)],
    properties: &[Property],
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (key, value) in defaults {
        config.set(*key, *value);
    }
    for p in properties {
        config.set(&p.key, &p.value);
    }
    config
}

/// The properties for a log line, secrets masked.
pub fn describe(properties: &[Property]) -> String {
    properties
        .iter()
        .map(Property::redacted)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn user_properties_override_defaults() {
        let user: Property = "linger.ms=50".parse().unwrap();
        let config = client_config("b:9092", &[("linger.ms", "5"), ("acks", "all")], &[user]);
        assert_eq!(config.get("linger.ms"), Some("50"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("bootstrap.servers"), Some("b:9092"));
    }
}
