//! A blocking client for the Confluent Schema Registry calls Aegis makes (register a schema, fetch
//! one by id), and [`RegistryDecoder`], which reads messages with their writer's schema.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use apache_avro::rabin::Rabin;
use apache_avro::Schema;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use aegis_core::avro::{AvroCodec, Framing};

mod decoder;
pub use decoder::{DecodeError, RegistryDecoder};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest registry response read; Aegis's schemas are a few kilobytes.
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;
const NO_TLS: &str = "https is not supported by this build; \
    use the registry's plain-HTTP listener (Redpanda: http://HOST:8081)";
/// Confluent's error code for "Schema not found" (with HTTP 404).
const SCHEMA_NOT_FOUND: u32 = 40403;

/// The registry subject of a topic's values under Confluent's default `TopicNameStrategy`:
/// `{topic}-value`. Console, kcat and Confluent deserializers look schemas up under this name.
pub fn subject_for(topic: &str) -> String {
    format!("{topic}-value")
}

/// Why a registry call failed. Every variant names the URL it called.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The configured base URL cannot be used.
    #[error("invalid Schema Registry URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No HTTP answer: connection refused, timeout, DNS failure, broken connection.
    #[error(
        "Schema Registry unreachable at {url}: {source}; \
         check --schema-registry-url and that the registry is up"
    )]
    Unreachable {
        /// The request URL.
        url: String,
        /// What the HTTP client saw.
        #[source]
        source: ureq::Error,
    },
    /// The registry answered with an HTTP error other than "schema not found".
    #[error("Schema Registry {url} answered HTTP {status} (error_code {error_code:?}): {message}")]
    Status {
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The `error_code` of the registry's error body, if it sent one.
        error_code: Option<u32>,
        /// The `message` of the registry's error body, or the start of the body.
        message: String,
    },
    /// A success response that is not the JSON the API promises (or is too large).
    #[error("Schema Registry {url} sent an unexpected response: {reason}")]
    BadResponse {
        /// The request URL.
        url: String,
        /// What was wrong with the response.
        reason: String,
    },
    /// The registry has no schema with this id (HTTP 404, error code 40403).
    #[error("schema id {id} is not in the Schema Registry at {url}")]
    UnknownSchema {
        /// The request URL.
        url: String,
        /// The schema id looked up.
        id: u32,
    },
    /// The registry's schema for this id is not an Avro schema apache-avro can parse.
    #[error("schema id {id} from {url} is not a readable Avro schema: {reason}")]
    UnreadableSchema {
        /// The request URL.
        url: String,
        /// The schema id looked up.
        id: u32,
        /// Why it cannot be read (parse error, or a non-Avro `schemaType`).
        reason: String,
    },
}

impl RegistryError {
    /// Whether the failure says nothing about the message being decoded — the registry is down,
    /// slow, misconfigured or refusing us — so retrying later may succeed. Only
    /// [`UnknownSchema`](Self::UnknownSchema) and [`UnreadableSchema`](Self::UnreadableSchema) are
    /// answers about the schema id itself.
    pub fn is_unavailable(&self) -> bool {
        !matches!(
            self,
            RegistryError::UnknownSchema { .. } | RegistryError::UnreadableSchema { .. }
        )
    }
}

/// A schema from the registry with the fingerprint of its Parsing Canonical Form.
#[derive(Clone)]
struct Cached {
    schema: Arc<Schema>,
    fingerprint: [u8; 8],
}

impl Cached {
    fn new(schema: Schema) -> Self {
        let mut fingerprint = [0; 8];
        fingerprint.copy_from_slice(&schema.fingerprint::<Rabin>().bytes);
        Cached {
            schema: Arc::new(schema),
            fingerprint,
        }
    }
}

#[derive(Deserialize)]
struct IdBody {
    id: u32,
}

#[derive(Deserialize)]
struct SchemaBody {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error_code: Option<u32>,
    message: Option<String>,
}

/// A blocking Schema Registry client (plain HTTP; TLS is not compiled in). Every request has a
/// 5 s connect and 10 s overall timeout and reads at most 1 MiB. Schemas fetched by id (and the
/// ones this process registers) are cached for the life of the client, so each id is fetched once;
/// ids are immutable in a registry, so the cache never goes stale. Share it with an [`Arc`].
pub struct SchemaRegistry {
    base_url: String,
    agent: ureq::Agent,
    schemas: Mutex<HashMap<u32, Cached>>,
}

impl SchemaRegistry {
    /// A client for the registry at `base_url` (`http://host:port`, optionally with a path prefix).
    /// Only checks the URL; nothing is sent until the first call.
    pub fn new(base_url: &str) -> Result<Self, RegistryError> {
        let invalid = |reason| RegistryError::InvalidUrl {
            url: without_userinfo(base_url),
            reason,
        };
        let trimmed = base_url.trim_end_matches('/');
        let rest = match trimmed.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => return Err(invalid(NO_TLS)),
            _ => return Err(invalid("expected http://HOST:PORT")),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(invalid("no host; expected http://HOST:PORT"));
        }
        if authority.contains('@') {
            return Err(invalid("credentials in the URL are not supported"));
        }
        if trimmed.contains(['?', '#']) || trimmed.chars().any(char::is_whitespace) {
            return Err(invalid(
                "expected http://HOST:PORT[/PATH] without query, fragment or spaces",
            ));
        }
        if trimmed.parse::<ureq::http::Uri>().is_err() {
            return Err(invalid("not a valid URL"));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .into();
        Ok(SchemaRegistry {
            base_url: trimmed.to_owned(),
            agent,
            schemas: Mutex::new(HashMap::new()),
        })
    }

    /// The base URL requests go to, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.base_url
    }

    /// Registers `schema_json` (an Avro schema) under `subject` and returns its global id:
    /// `POST /subjects/{subject}/versions`. Registering a schema that is already there returns its
    /// existing id, so producers call this at every start.
    pub fn register(&self, subject: &str, schema_json: &str) -> Result<u32, RegistryError> {
        let url = format!(
            "{}/subjects/{}/versions",
            self.base_url,
            encode_segment(subject)
        );
        let body = serde_json::json!({ "schema": schema_json }).to_string();
        let request = self.agent.post(&url).header("Content-Type", CONTENT_TYPE);
        let answer = request.header("Accept", CONTENT_TYPE).send(body.as_str());
        let IdBody { id } = read_json(&url, answer)?;
        if let Ok(schema) = Schema::parse_str(schema_json) {
            self.lock().entry(id).or_insert_with(|| Cached::new(schema));
        }
        Ok(id)
    }

    /// Registers `codec`'s schema under `topic`'s subject ([`subject_for`]) and returns the
    /// Confluent framing to encode that topic's messages with.
    pub fn framing_for<T>(
        &self,
        topic: &str,
        codec: &AvroCodec<T>,
    ) -> Result<Framing, RegistryError> {
        let schema_id = self.register(&subject_for(topic), codec.schema_json())?;
        Ok(Framing::Confluent { schema_id })
    }

    /// The schema registered under `id`: `GET /schemas/ids/{id}`, parsed, then cached.
    pub fn schema(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        self.cached(id).map(|c| c.schema)
    }

    fn cached(&self, id: u32) -> Result<Cached, RegistryError> {
        if let Some(hit) = self.lock().get(&id) {
            return Ok(hit.clone());
        }
        // Fetched without holding the lock, so one slow lookup does not stall the others; two
        // threads missing the same id at once both fetch it, and the first answer is kept.
        let url = format!("{}/schemas/ids/{id}", self.base_url);
        let answer = self.agent.get(&url).header("Accept", CONTENT_TYPE).call();
        let body: SchemaBody = read_json(&url, answer).map_err(|e| match e {
            RegistryError::Status {
                url,
                status: 404,
                error_code: Some(SCHEMA_NOT_FOUND),
                ..
            } => RegistryError::UnknownSchema { url, id },
            other => other,
        })?;
        let unreadable = |reason| RegistryError::UnreadableSchema {
            url: url.clone(),
            id,
            reason,
        };
        if let Some(kind) = body.schema_type.filter(|t| t != "AVRO") {
            return Err(unreadable(format!("its schemaType is {kind}, not AVRO")));
        }
        let schema = Schema::parse_str(&body.schema).map_err(|e| unreadable(e.to_string()))?;
        Ok(self
            .lock()
            .entry(id)
            .or_insert_with(|| Cached::new(schema))
            .clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Cached>> {
        // The map is only ever inserted into, so a panic elsewhere cannot leave it inconsistent.
        self.schemas.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `url` with any `user:password@` replaced by `***@`, for messages.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_owned(),
    }
}

/// Reads a registry response: the JSON body of a 2xx, or a [`RegistryError`] naming `url`.
fn read_json<B: DeserializeOwned>(
    url: &str,
    answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<B, RegistryError> {
    let bad = |reason: String| RegistryError::BadResponse {
        url: url.to_owned(),
        reason,
    };
    let mut response = answer.map_err(|source| RegistryError::Unreachable {
        url: url.to_owned(),
        source,
    })?;
    let status = response.status().as_u16();
    let text = match response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_string()
    {
        Ok(text) => text,
        Err(ureq::Error::BodyExceedsLimit(_)) => {
            return Err(bad(format!("body over {MAX_RESPONSE_BYTES} bytes")))
        }
        Err(source) => {
            return Err(RegistryError::Unreachable {
                url: url.to_owned(),
                source,
            })
        }
    };
    if !(200..300).contains(&status) {
        let error: Option<ErrorBody> = serde_json::from_str(&text).ok();
        let (error_code, message) = match error {
            Some(ErrorBody {
                error_code,
                message,
            }) => (error_code, message.unwrap_or_default()),
            None => (None, text.chars().take(200).collect()),
        };
        return Err(RegistryError::Status {
            url: url.to_owned(),
            status,
            error_code,
            message,
        });
    }
    serde_json::from_str(&text).map_err(|e| bad(format!("not the expected JSON ({e})")))
}

/// Percent-encodes a path segment (subjects may hold any character; topic names never need it).
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests;
