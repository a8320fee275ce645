//! An in-process fake of the Confluent Schema Registry REST calls Aegis and its tools make, for
//! tests on machines where no real registry can run: plain HTTP/1.1 on loopback.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use apache_avro::Schema;
use serde_json::{json, Value};

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::Transaction;

const MAX_HEAD_BYTES: u64 = 64 * 1024;
const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Default)]
struct State {
    /// (Parsing Canonical Form, text as first registered); the id is the index + 1.
    schemas: Vec<(String, String)>,
    /// The ids of each subject's versions, version 1 first.
    subjects: BTreeMap<String, Vec<u32>>,
    /// Every request served, as `METHOD /path`.
    requests: Vec<String>,
    /// While set, every request gets a 500 with error code 50001, as from a registry whose
    /// backing store is down.
    unavailable: bool,
}

/// A fake registry on a free loopback port, serving from a thread until dropped. It answers as
/// Confluent's API does: `POST /subjects/{subject}/versions` (one global id per canonical schema,
/// whatever the subject; ids from 1; invalid schema: 422, error code 42201),
/// `GET /schemas/ids/{id}` (unknown: 404, error code 40403), `GET /subjects`,
/// `GET /subjects/{subject}/versions/{latest|n}` (unknown subject: 404, 40401; unknown version:
/// 404, 40402), and 404 for anything else.
pub struct FakeSchemaRegistry {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeSchemaRegistry {
    /// Starts the fake on a free loopback port.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub fn start() -> Self {
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("a loopback port for the fake registry");
        let addr = listener.local_addr().expect("the fake registry's address");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (served, stopped) = (Arc::clone(&state), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    // A client that hangs up mid-request is its own problem; serve the next one.
                    let _ = serve(stream, &served);
                }
            }
        });
        FakeSchemaRegistry {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Registers a schema directly, as another team's producer would, and returns its id.
    ///
    /// # Panics
    /// If `schema_json` is not an Avro schema.
    pub fn register(&self, subject: &str, schema_json: &str) -> u32 {
        register(&mut lock(&self.state), subject, schema_json).expect("a valid Avro schema")
    }

    /// What another team's producer with a newer transaction schema sends: registers the
    /// transaction schema plus a last field `channel` (a string, default `"app"`) under `subject`,
    /// and returns the id and `tx` with `channel = "web"` in the Confluent wire format.
    pub fn evolved_transaction_message(&self, subject: &str, tx: &Transaction) -> (u32, Vec<u8>) {
        let codec = AvroCodec::transaction();
        let mut schema: Value =
            serde_json::from_str(codec.schema_json()).expect("the embedded schema is JSON");
        schema["fields"]
            .as_array_mut()
            .expect("a record schema has fields")
            .push(json!({
                "name": "channel", "type": "string", "default": "app", "doc": "Where it was paid."
            }));
        let schema_id = self.register(subject, &schema.to_string());
        let mut message = codec
            .encode(tx, Framing::Confluent { schema_id })
            .expect("a valid transaction");
        // A record's encoding is its fields' in order, so the evolved body is the old one followed
        // by the string "web": its zigzag length (3 → 6), then its bytes.
        message.extend_from_slice(b"\x06web");
        (schema_id, message)
    }

    /// How many `GET /schemas/ids/{id}` requests were served.
    pub fn lookups(&self) -> usize {
        let state = lock(&self.state);
        state
            .requests
            .iter()
            .filter(|r| r.starts_with("GET /schemas/ids/"))
            .count()
    }

    /// Every request served so far, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }

    /// Simulates an outage of the registry's backing store (`false`) and its end (`true`).
    pub fn set_available(&self, available: bool) {
        lock(&self.state).unavailable = !available;
    }
}

impl Drop for FakeSchemaRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag; if that fails, leave the thread be.
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok() {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn register(state: &mut State, subject: &str, text: &str) -> Result<u32, String> {
    let canonical = Schema::parse_str(text)
        .map_err(|e| format!("Invalid schema: {e}"))?
        .canonical_form();
    let id = match state.schemas.iter().position(|(c, _)| *c == canonical) {
        Some(index) => index + 1,
        None => {
            state.schemas.push((canonical, text.to_owned()));
            state.schemas.len()
        }
    };
    let id = u32::try_from(id).map_err(|e| e.to_string())?;
    let versions = state.subjects.entry(subject.to_owned()).or_default();
    if !versions.contains(&id) {
        versions.push(id);
    }
    Ok(id)
}

/// Reads one request from `stream` and answers it.
fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?.take(MAX_HEAD_BYTES));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(usize::MAX);
            }
        }
    }
    let (status, answer) = if length > MAX_BODY_BYTES {
        (413, error(413, "Request body too large"))
    } else {
        reader.get_mut().set_limit(length as u64);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = target.split('?').next().unwrap_or("");
        let mut state = lock(state);
        state.requests.push(format!("{method} {path}"));
        if state.unavailable {
            (500, error(50001, "Error in the backend data store"))
        } else {
            route(&mut state, method, path, &body)
        }
    };
    let body = answer.to_string();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason_phrase(status),
        body.len()
    )?;
    stream.flush()
}

fn route(state: &mut State, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method, segments.as_slice()) {
        ("POST", ["subjects", subject, "versions"]) => {
            let request: Value = match serde_json::from_slice(body) {
                Ok(request) => request,
                Err(e) => return (400, error(400, &format!("Unexpected request body: {e}"))),
            };
            match (request["schema"].as_str(), request["schemaType"].as_str()) {
                (None, _) => (422, error(42201, "Empty schema")),
                (Some(_), Some(kind)) if kind != "AVRO" => (
                    422,
                    error(42201, &format!("Unsupported schema type {kind}")),
                ),
                (Some(text), _) => match register(state, subject, text) {
                    Ok(id) => (200, json!({ "id": id })),
                    Err(message) => (422, error(42201, &message)),
                },
            }
        }
        ("GET", ["schemas", "ids", id]) => match id
            .parse::<usize>()
            .ok()
            .and_then(|i| state.schemas.get(i.wrapping_sub(1)))
        {
            Some((_, text)) => (200, json!({ "schema": text })),
            None => (404, error(40403, "Schema not found")),
        },
        ("GET", ["subjects"]) => (200, json!(state.subjects.keys().collect::<Vec<_>>())),
        ("GET", ["subjects", subject, "versions", version]) => {
            let Some(ids) = state.subjects.get(*subject) else {
                return (
                    404,
                    error(40401, &format!("Subject '{subject}' not found.")),
                );
            };
            let index = match *version {
                "latest" => ids.len().checked_sub(1),
                n => n.parse::<usize>().ok().and_then(|n| n.checked_sub(1)),
            };
            let found = index.and_then(|i| Some((i + 1, *ids.get(i)?)));
            let Some((version, id)) = found else {
                return (404, error(40402, &format!("Version {version} not found.")));
            };
            let text = usize::try_from(id)
                .ok()
                .and_then(|id| state.schemas.get(id - 1))
                .map(|(_, t)| t.as_str());
            (
                200,
                json!({ "subject": subject, "version": version, "id": id, "schema": text }),
            )
        }
        _ => (404, error(404, "HTTP 404 Not Found")),
    }
}

fn error(error_code: u32, message: &str) -> Value {
    json!({ "error_code": error_code, "message": message })
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        _ => "Internal Server Error",
    }
}

/// Decodes `%XX` escapes in a path segment; anything malformed is kept as it is.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
