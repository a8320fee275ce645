//! `-X key=value` librdkafka properties (as kcat takes them) and client configs built from them,
//! with secrets masked wherever a property is shown.

use rdkafka::ClientConfig;

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
    /// Whether the value is a secret (passwords, keys, tokens, PEM blobs, the OAUTHBEARER config,
    /// the SASL username): such values are never logged. This covers at least every property
    /// librdkafka itself redacts in its configuration dump (`-X debug=conf`).
    pub fn is_secret(&self) -> bool {
        let key = self.key.to_ascii_lowercase();
        [
            "password",
            "passphrase",
            "secret",
            "token",
            "jaas",
            ".pem",
            "oauthbearer.config",
            "credentials",
            "private",
            "username",
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
