//! Bounded waits: poll a condition until it holds, giving up at a deadline or as soon as the
//! condition itself fails (a watched process died, a stop signal came). Every wait of the stack
//! and of `aegis-stack wait` goes through [`until`]; HTTP checks use one short-timeout client.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::StackError;

/// How often a condition is checked.
const POLL: Duration = Duration::from_millis(200);
/// How long one HTTP request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// Polls `ready` until it returns `Ok(true)`; its error, or [`StackError::NotReady`] naming
/// `what` (and `log`, when given) after `limit`.
pub fn until(
    what: &str,
    limit: Duration,
    log: Option<&Path>,
    mut ready: impl FnMut() -> Result<bool, StackError>,
) -> Result<(), StackError> {
    let deadline = Instant::now() + limit;
    loop {
        if ready()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StackError::NotReady {
                what: what.to_owned(),
                limit,
                log: log.map(Path::to_owned),
            });
        }
        std::thread::sleep(POLL);
    }
}

/// [`StackError::Cancelled`] once `cancel` has fired: for conditions that should stop waiting.
pub fn not_cancelled(cancel: &CancellationToken) -> Result<(), StackError> {
    if cancel.is_cancelled() {
        Err(StackError::Cancelled)
    } else {
        Ok(())
    }
}

/// [`StackError::ProcessGone`] once process `pid` (when given) is no longer running: for waits
/// on something that process should serve.
pub fn still_running(what: &str, pid: Option<u32>) -> Result<(), StackError> {
    match pid {
        Some(pid) if !super::process::is_running(pid) => Err(StackError::ProcessGone {
            what: what.to_owned(),
            pid,
        }),
        _ => Ok(()),
    }
}

/// An HTTP client whose requests give up after 2 s and which returns any status as a response.
pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(HTTP_TIMEOUT))
        .build()
        .into()
}

/// The body of `GET url` when it answers 2xx; `None` otherwise (not listening, error status).
pub fn http_get(agent: &ureq::Agent, url: &str) -> Option<String> {
    let mut response = agent.get(url).call().ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.body_mut().read_to_string().ok()
}

/// Whether `GET url` answers 2xx.
pub fn http_ok(agent: &ureq::Agent, url: &str) -> bool {
    http_get(agent, url).is_some()
}

/// Whether the scorer at `base` (e.g. `http://127.0.0.1:8080`) holds input partitions: its
/// `/readyz` lists some. (Readiness itself does not wait for them: a replica without partitions
/// still serves `POST /v1/score`.)
pub fn holds_partitions(agent: &ureq::Agent, base: &str) -> bool {
    http_get(agent, &format!("{base}/readyz"))
        .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|readiness| readiness["partitions"].as_array().map(|p| !p.is_empty()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_ends_when_ready_at_its_deadline_or_on_the_conditions_error() {
        let mut calls = 0;
        until("third time", Duration::from_secs(5), None, || {
            calls += 1;
            Ok(calls == 3)
        })
        .unwrap();
        assert_eq!(calls, 3);

        let started = Instant::now();
        let never = until("never", Duration::from_millis(300), None, || Ok(false));
        assert!(matches!(never, Err(StackError::NotReady { .. })));
        assert!(started.elapsed() < Duration::from_secs(2));

        let cancel = CancellationToken::new();
        cancel.cancel();
        let stopped = until("cancelled", Duration::from_secs(60), None, || {
            not_cancelled(&cancel).map(|()| false)
        });
        assert!(matches!(stopped, Err(StackError::Cancelled)));
    }

    /// A server answering every request with `status` and `body`, on a loopback port of its own.
    fn answering(status: u16, body: &'static str) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        base
    }

    #[test]
    fn a_scorer_holds_partitions_once_its_readiness_lists_some() {
        let agent = http_agent();
        let listed = r#"{"ready":true,"model_version":"rf","partitions":[0,2]}"#;
        assert!(holds_partitions(&agent, &answering(200, listed)));
        let none = r#"{"ready":true,"model_version":"rf","partitions":[]}"#;
        assert!(!holds_partitions(&agent, &answering(200, none)));
        assert!(!holds_partitions(&agent, &answering(503, listed)));
        assert!(!holds_partitions(&agent, &answering(200, "not json")));
        let port = aegis_testkit::free_port();
        assert!(!holds_partitions(
            &agent,
            &format!("http://127.0.0.1:{port}")
        ));
    }

    #[test]
    fn nothing_listening_is_not_ok() {
        let port = aegis_testkit::free_port();
        assert!(!http_ok(
            &http_agent(),
            &format!("http://127.0.0.1:{port}/")
        ));
    }
}
