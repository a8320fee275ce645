//! What a running stack offers, told two ways: a banner for people (the URLs to open) and
//! `NAME=value` variables for scripts — the env file, and the environment of a command run inside
//! the stack (`aegis-stack up -- COMMAND`).

use std::fmt::Write as _;
use std::path::PathBuf;

/// A process of the stack that serves HTTP.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Its base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Its process id.
    pub pid: u32,
}

/// Where everything of a running stack is.
#[derive(Clone, Debug)]
pub struct StackInfo {
    /// The stack's directory (logs, broker storage).
    pub dir: PathBuf,
    /// Where the Aegis binaries are.
    pub bin_dir: PathBuf,
    /// Bootstrap servers.
    pub brokers: String,
    /// The broker's process id.
    pub broker_pid: u32,
    /// The scorer replicas, in start order.
    pub scorers: Vec<Endpoint>,
    /// The outcome service (its metrics server).
    pub outcomes: Endpoint,
    /// The producer (its metrics server).
    pub producer: Endpoint,
    /// Prometheus, when started.
    pub prometheus: Option<Endpoint>,
}

impl StackInfo {
    /// The variables scripts read: `STACK_DIR`, `BROKERS`, `BROKER_PID`, `SCORER_URL` (the first
    /// replica, whose live page to open), `SCORER_URLS` and `SCORER_PIDS` (space-separated),
    /// `OUTCOMES_METRICS_URL`, `OUTCOMES_PID`, `PRODUCER_METRICS_URL`, `PRODUCER_PID`,
    /// `PROMETHEUS_URL` and `PROMETHEUS_PID` (empty
    /// without Prometheus).
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        let join = |f: fn(&Endpoint) -> String| -> String {
            self.scorers.iter().map(f).collect::<Vec<_>>().join(" ")
        };
        let first_url = self.scorers.first().map(|s| s.url.clone());
        let first_url = first_url.unwrap_or_default();
        let prometheus = self.prometheus.as_ref();
        vec![
            ("STACK_DIR", self.dir.display().to_string()),
            ("BROKERS", self.brokers.clone()),
            ("BROKER_PID", self.broker_pid.to_string()),
            ("SCORER_URL", first_url),
            ("SCORER_URLS", join(|s| s.url.clone())),
            ("SCORER_PIDS", join(|s| s.pid.to_string())),
            (
                "OUTCOMES_METRICS_URL",
                format!("{}/metrics", self.outcomes.url),
            ),
            ("OUTCOMES_PID", self.outcomes.pid.to_string()),
            (
                "PRODUCER_METRICS_URL",
                format!("{}/metrics", self.producer.url),
            ),
            ("PRODUCER_PID", self.producer.pid.to_string()),
            (
                "PROMETHEUS_URL",
                prometheus.map(|p| p.url.clone()).unwrap_or_default(),
            ),
            (
                "PROMETHEUS_PID",
                prometheus.map(|p| p.pid.to_string()).unwrap_or_default(),
            ),
        ]
    }

    /// The env file: one `NAME='value'` line per variable, for `source` in a shell.
    pub fn env_file(&self) -> String {
        let mut text =
            String::from("# The running Aegis stack (aegis-stack up); removed when it stops.\n");
        for (name, value) in self.variables() {
            let _ = writeln!(text, "{name}={}", shell_quote(&value));
        }
        text
    }

    /// What to open, for people.
    pub fn banner(&self) -> String {
        let first = self.scorers.first().map(|s| s.url.as_str()).unwrap_or("");
        let others: Vec<&str> = self
            .scorers
            .iter()
            .skip(1)
            .filter_map(|s| s.url.rsplit_once(':').map(|(_, port)| port))
            .collect();
        let others = if others.is_empty() {
            String::new()
        } else {
            format!("          (and :{})", others.join(", :"))
        };
        let prometheus = self
            .prometheus
            .as_ref()
            .map_or("not started (--prometheus starts it)".to_owned(), |p| {
                p.url.clone()
            });
        let verdicts = self.bin_dir.join("aegis-verdicts");
        format!(
            "\n  Aegis is running (logs in {dir}/):\n\
             \x20   live page      {first}/{others}\n\
             \x20   API docs       {first}/docs\n\
             \x20   score API      curl -s -XPOST {first}/v1/score -d @transaction.json\n\
             \x20   metrics        {first}/metrics   producer: {producer}/metrics\n\
             \x20   outcomes       {outcomes}/metrics   (verdicts joined with labels)\n\
             \x20   Prometheus     {prometheus}\n\
             \x20   Kafka          {brokers}   (verdicts: {verdicts} --brokers {brokers})\n",
            dir = self.dir.display(),
            producer = self.producer.url,
            outcomes = self.outcomes.url,
            brokers = self.brokers,
            verdicts = verdicts.display(),
        )
    }
}

/// `value` in single quotes, safe to `source` whatever it holds.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> StackInfo {
        let endpoint = |port: u16, pid: u32| Endpoint {
            url: format!("http://127.0.0.1:{port}"),
            pid,
        };
        StackInfo {
            dir: PathBuf::from("/tmp/it's here"),
            bin_dir: PathBuf::from("target/release"),
            brokers: "127.0.0.1:9092".to_owned(),
            broker_pid: 10,
            scorers: vec![endpoint(8080, 11), endpoint(8081, 12)],
            outcomes: endpoint(8090, 14),
            producer: endpoint(9100, 13),
            prometheus: None,
        }
    }

    #[test]
    fn scripts_read_every_address_and_pid() {
        let file = stack().env_file();
        for line in [
            "STACK_DIR='/tmp/it'\\''s here'",
            "BROKERS='127.0.0.1:9092'",
            "SCORER_URL='http://127.0.0.1:8080'",
            "SCORER_URLS='http://127.0.0.1:8080 http://127.0.0.1:8081'",
            "SCORER_PIDS='11 12'",
            "PRODUCER_METRICS_URL='http://127.0.0.1:9100/metrics'",
            "OUTCOMES_METRICS_URL='http://127.0.0.1:8090/metrics'",
            "PROMETHEUS_URL=''",
        ] {
            assert!(
                file.lines().any(|l| l == line),
                "{line} missing from\n{file}"
            );
        }
    }

    #[test]
    fn the_banner_names_the_live_page_as_scripts_grep_it() {
        let banner = stack().banner();
        assert!(
            banner.contains("live page      http://127.0.0.1:8080/          (and :8081)"),
            "{banner}"
        );
    }
}
