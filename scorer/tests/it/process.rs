//! The scorer binary as a child process, as an operator runs it: its flags, its log, its signals.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::{model, Pipeline};

/// Unless `args` say otherwise: no models or rules topics (these tests publish neither), so no
/// key to trust is needed.
pub fn without_control_topics(args: &[&str]) -> Vec<&'static str> {
    let given = |flag: &str| args.iter().any(|a| a.starts_with(flag));
    if given("--models-topic")
        || given("--rules-topic")
        || given("--trusted-keys")
        || given("--allow-unsigned")
    {
        Vec::new()
    } else {
        vec!["--models-topic=", "--rules-topic="]
    }
}

/// The scorer binary running on a pipeline's topics, its stderr going to a file (a pipe nobody
/// reads would fill up and block it).
pub struct RunningScorer {
    child: std::process::Child,
    stderr: tempfile::NamedTempFile,
}

impl RunningScorer {
    pub fn spawn(pipeline: &Pipeline, group: &str, args: &[&str]) -> RunningScorer {
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_aegis-scorer"))
            .args([
                "--brokers",
                &pipeline.broker.bootstrap(),
                "--group-id",
                group,
            ])
            .args([
                "--transactions-topic",
                &pipeline.input,
                "--verdicts-topic",
                &pipeline.verdicts,
            ])
            .args([
                "--dlq-topic",
                &pipeline.dlq,
                "--model",
                model().to_str().unwrap(),
            ])
            .args(["--http-addr", "127.0.0.1:0"])
            // Without a changelog topic of its own, a test keeps account state in memory.
            .args(
                (!args
                    .iter()
                    .any(|a| a.starts_with("--state-changelog-topic")))
                .then_some("--state-changelog-topic="),
            )
            .args(args)
            .args(without_control_topics(args))
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .unwrap();
        RunningScorer { child, stderr }
    }

    /// Sends SIGTERM and waits, at most `limit`, for the process to exit; returns its status and
    /// stderr.
    pub fn terminate(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "the scorer was still running {limit:?} after SIGTERM; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (status, self.log())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap()
    }
}

impl Drop for RunningScorer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address a scorer's log says its HTTP server listens on (`HTTP server listening addr=…`),
/// once it says so; `log` without colour codes ([`plain`]).
pub fn http_addr_in(log: &str) -> Option<std::net::SocketAddr> {
    log.lines()
        .filter(|l| l.contains("HTTP server listening"))
        .find_map(|l| l.split("addr=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
}

/// `text` without terminal colour codes.
pub fn plain(text: &str) -> String {
    let mut plain = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("\x1b[") {
        plain.push_str(&rest[..start]);
        rest = &rest[start..];
        rest = rest.find('m').map_or("", |end| &rest[end + 1..]);
    }
    plain.push_str(rest);
    plain
}
