//! The HTTP load of issue 29, for the `http-abuse` scenario: thousands of slow and oversized
//! clients against one scorer, each reconnecting as soon as it is refused or cut off ([`run`]),
//! and what must hold afterwards ([`Findings::judge`]): the scorer's peak RSS within what its HTTP
//! caps allow ([`Caps::memory_bound`]), every abusive request refused by the mechanism meant for
//! it, the stream scoring throughout. Memory is read from `/proc/PID/status` (Linux).

mod client;
mod findings;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

pub use client::{abuse_once, Answer, Kind, MAX_BODY};
pub use findings::Findings;

/// The request head a connection may buffer (`aegis_scorer::http::server`'s `MAX_HEAD_BYTES`).
pub const MAX_HEAD: u64 = 64 << 10;
/// The allocator's slack and the runtime's, on top of what the caps let the HTTP side hold.
const SLACK: u64 = 64 << 20;
/// How long a client waits before its next connection.
const RECONNECT: Duration = Duration::from_millis(50);
/// The `aegis_http_rejected_total` reasons each of which the abuse must provoke.
pub const REJECTED_REASONS: [&str; 3] = ["connections", "body_too_large", "read_timeout"];

/// The scorer's HTTP caps under abuse: passed as its flags, and the memory bound is computed from
/// them.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    /// `--http-max-connections`.
    pub max_connections: u64,
    /// `--http-max-in-flight`.
    pub max_in_flight: u64,
    /// `--http-read-timeout`.
    pub read_timeout: Duration,
}

impl Caps {
    /// The scorer's defaults, except a read timeout of 2 s (10 s by default), so that slow
    /// clients are cut off several times within the abuse rather than once.
    pub const LOAD_TEST: Caps = Caps {
        max_connections: 512,
        max_in_flight: 32,
        read_timeout: Duration::from_secs(2),
    };

    /// The scorer's flags that set these caps.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--http-max-connections".to_owned(),
            self.max_connections.to_string(),
            "--http-max-in-flight".to_owned(),
            self.max_in_flight.to_string(),
            "--http-read-timeout".to_owned(),
            aegis_kafka::duration::show(self.read_timeout),
        ]
    }

    /// What the caps let the HTTP server hold at once, in bytes: a body of up to the limit per
    /// request in flight — half as much again while a chunked body's buffer doubles, when the old
    /// and the new copy both live — and a request head's buffer plus a read buffer per
    /// connection; 64 MiB more for the allocator's slack and the runtime. Without the in-flight
    /// cap the 512 connections could hold 2 GiB of bodies, and without the caps each of 2,000
    /// clients a 4 MiB body (8 GiB); without the limit enforced while reading, a chunked body
    /// grows as long as its client sends.
    pub fn memory_bound(&self) -> u64 {
        self.max_in_flight * MAX_BODY * 3 / 2 + self.max_connections * 2 * MAX_HEAD + SLACK
    }
}

/// How many clients, for how long.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Clients, each one of [`Kind::ALL`] by turn.
    pub clients: usize,
    /// How long they keep at it.
    pub duration: Duration,
}

/// What the server answered the abusive connections: how many of each kind got each answer.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Connections by kind of client and answer.
    pub answers: BTreeMap<(Kind, Answer), u64>,
}

impl Tally {
    /// Connections made (or tried).
    pub fn connections(&self) -> u64 {
        self.answers.values().sum()
    }

    /// Connections of `kind` answered `answer`.
    pub fn count(&self, kind: Kind, answer: Answer) -> u64 {
        self.answers.get(&(kind, answer)).copied().unwrap_or(0)
    }
}

/// Runs `plan.clients` abusive clients against `addr` for `plan.duration`, each reconnecting 50 ms
/// after its connection ends; what they were answered. Dropping the future stops them.
pub async fn run(addr: SocketAddr, plan: Plan) -> Tally {
    let started = Instant::now();
    let mut clients = JoinSet::new();
    for i in 0..plan.clients {
        let kind = Kind::ALL[i % Kind::ALL.len()];
        clients.spawn(async move {
            let mut answers: BTreeMap<Answer, u64> = BTreeMap::new();
            while started.elapsed() < plan.duration {
                let left = plan.duration.saturating_sub(started.elapsed());
                let answer = tokio::time::timeout(left, abuse_once(addr, kind))
                    .await
                    .unwrap_or(Answer::StillOpen);
                *answers.entry(answer).or_default() += 1;
                tokio::time::sleep(RECONNECT).await;
            }
            (kind, answers)
        });
    }
    let mut tally = Tally::default();
    while let Some(client) = clients.join_next().await {
        match client {
            Ok((kind, answers)) => {
                for (answer, n) in answers {
                    *tally.answers.entry((kind, answer)).or_default() += n;
                }
            }
            // A bug of the client code: as loud as if it had run on this thread.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: only when the set is dropped, which ends this loop first.
            Err(_) => {}
        }
    }
    tally
}

/// Resident and peak resident memory of a process, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`.
    pub rss: u64,
    /// `VmHWM`: the peak resident set since the process started.
    pub peak: u64,
}

impl Memory {
    /// Reads `/proc/PID/status`.
    pub fn of(pid: u32) -> std::io::Result<Memory> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path)?;
        Memory::parse(&status).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("no VmRSS or VmHWM in {path}"),
            )
        })
    }

    fn parse(status: &str) -> Option<Memory> {
        let field = |name: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        };
        Some(Memory {
            rss: field("VmRSS:")?,
            peak: field("VmHWM:")?,
        })
    }
}

/// The `aegis_http_rejected_total` counts by reason in a Prometheus exposition.
pub fn rejected(metrics: &str) -> BTreeMap<String, u64> {
    metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("aegis_http_rejected_total{reason=\"")?;
            let (reason, rest) = rest.split_once("\"}")?;
            let count: f64 = rest.trim().parse().ok()?;
            Some((reason.to_owned(), count as u64))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_in_bytes() {
        let status = "Name:\taegis-scorer\nVmHWM:\t  204800 kB\nVmRSS:\t   22528 kB\n";
        assert_eq!(
            Memory::parse(status),
            Some(Memory {
                rss: 22 << 20,
                peak: 200 << 20
            })
        );
        assert_eq!(Memory::parse("VmRSS:\t1 kB\n"), None);
        let own = Memory::of(std::process::id()).unwrap();
        assert!(own.rss > 0 && own.peak >= own.rss, "{own:?}");
    }

    #[test]
    fn the_bound_at_the_defaults_is_320_mib() {
        assert_eq!(Caps::LOAD_TEST.memory_bound(), 320 << 20);
        assert_eq!(
            Caps::LOAD_TEST.flags()[4..],
            ["--http-read-timeout".to_owned(), "2s".to_owned()]
        );
    }

    #[test]
    fn rejections_are_read_by_reason() {
        let metrics = "# HELP aegis_http_rejected_total …\n\
                       aegis_http_rejected_total{reason=\"connections\"} 5739\n\
                       aegis_http_rejected_total{reason=\"read_timeout\"} 0\n\
                       aegis_http_requests_total 3\n";
        let counts = rejected(metrics);
        assert_eq!(counts.len(), 2);
        assert_eq!(counts["connections"], 5739);
        assert_eq!(counts["read_timeout"], 0);
    }
}
