//! The five scenarios, step by step: start the scorers, start the writer, inject the fault in the
//! middle of the stream, check every message, then check the processes that had to survive.

use std::time::Duration;

use aegis_core::topics::TRANSACTIONS_TOPIC;

use super::testbed::{CheckPlan, Testbed};
use super::{say, Checked, ScenarioError};
use crate::fuzz::{self, FuzzPlan};
use crate::http_abuse::{self, abuse_once, Caps, Findings, Kind, Memory, Plan};

/// The clients of `http-abuse` and how long they keep at it.
const ABUSE: Plan = Plan {
    clients: 2_000,
    duration: Duration::from_secs(10),
};
/// The stream of `http-abuse`: 8k transactions at 500/s, 16 s, so it flows all through the abuse.
const ABUSE_TRANSACTIONS: u64 = 8_000;
const ABUSE_RATE: f64 = 500.0;
/// A valid transaction for `POST /v1/score` once the abuse is over.
const VALID_TRANSACTION: &str = r#"{"type":"PAYMENT","amount":20.0,"name_orig":"C1",
    "old_balance_orig":500.0,"new_balance_orig":480.0,"name_dest":"M1",
    "old_balance_dest":0.0,"new_balance_dest":0.0}"#;

/// `sigkill`. The scorers' cooperative-sticky assignment (their default) matters here: tansu
/// 0.6.0 never rebalances an eager-protocol group properly once a member dies without leaving
/// (`chaos/repro/tansu-dead-member.sh`).
pub(super) fn sigkill(bed: &mut Testbed<'_>) -> Result<Checked, ScenarioError> {
    bed.start_scorer("scorer-1")?;
    bed.start_scorer("scorer-2")?;
    bed.wait_ready(&["scorer-1", "scorer-2"])?;
    let producer = bed.start_producer(100_000, 5_000.0);
    bed.wait_midstream(30_000, &producer)?;
    bed.kill_scorer("scorer-1")?;
    let fault = bed.fault("scorer-1 killed (SIGKILL)")?;
    say("restarting it in 2 s");
    bed.pause(Duration::from_secs(2))?;
    bed.start_scorer("scorer-1b")?;
    let checked = bed.check_after(producer, fault, None)?;
    if checked.report.passed() {
        bed.still_running("scorer-2")?;
    }
    Ok(checked)
}

/// `broker-restart`. SIGKILL, not a graceful stop: tansu 0.6.0 then rejects the idempotent
/// producers' next batches with a panic in its storage (`chaos/repro/tansu-graceful-restart.sh`).
pub(super) fn broker_restart(bed: &mut Testbed<'_>) -> Result<Checked, ScenarioError> {
    bed.start_scorer("scorer-1")?;
    bed.start_scorer("scorer-2")?;
    bed.wait_ready(&["scorer-1", "scorer-2"])?;
    let producer = bed.start_producer(50_000, 2_500.0);
    bed.wait_midstream(15_000, &producer)?;
    let fault = bed.fault("killing the broker (SIGKILL)")?;
    bed.kill_broker();
    say("broker killed; restarting it in 3 s on the same port and storage");
    bed.pause(Duration::from_secs(3))?;
    bed.start_broker()?;
    let checked = bed.check_after(producer, fault, None)?;
    if checked.report.passed() {
        bed.still_running("scorer-1")?;
        bed.still_running("scorer-2")?;
    }
    Ok(checked)
}

/// `sigterm`: the scorer must exit 0 after logging its final commit, and its replacement may
/// repeat nothing.
pub(super) fn sigterm(bed: &mut Testbed<'_>) -> Result<Checked, ScenarioError> {
    bed.start_scorer("scorer-1")?;
    bed.wait_ready(&["scorer-1"])?;
    let producer = bed.start_producer(50_000, 2_500.0);
    bed.wait_midstream(15_000, &producer)?;
    let stopped = bed.terminate_scorer("scorer-1")?;
    let log = bed.log_of("scorer-1");
    if stopped.killed || !stopped.status.success() {
        return Err(ScenarioError::Violated(format!(
            "scorer-1 did not drain and commit after SIGTERM: {}{}; its log: {}",
            stopped.status,
            if stopped.killed {
                " (killed after its grace time)"
            } else {
                ""
            },
            log.display()
        )));
    }
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    if !logged.contains("offsets committed; scorer stopped") {
        return Err(ScenarioError::Violated(format!(
            "scorer-1 did not log its final commit; its log: {}",
            log.display()
        )));
    }
    let fault = bed.fault("scorer-1 drained and committed after SIGTERM")?;
    say("starting its replacement");
    bed.start_scorer("scorer-2")?;
    bed.check_after(producer, fault, Some(0))
}

/// `fuzz`: hostile input must end in the DLQ without a scorer restarting or panicking.
pub(super) fn fuzz(bed: &mut Testbed<'_>) -> Result<Checked, ScenarioError> {
    bed.start_scorer("scorer-1")?;
    bed.start_scorer("scorer-2")?;
    bed.wait_ready(&["scorer-1", "scorer-2"])?;
    let manifest = bed.dir().join("manifest.jsonl");
    let plan = FuzzPlan {
        brokers: bed.brokers().to_owned(),
        topic: TRANSACTIONS_TOPIC.to_owned(),
        hostile: 10_000,
        valid: 5_000,
        seed: 7,
    };
    let written = fuzz::run(&plan, &manifest).map_err(|source| ScenarioError::Kafka {
        what: "writing the hostile input",
        source,
    })?;
    if written.failed > 0 {
        return Err(ScenarioError::Violated(format!(
            "{} hostile or valid messages were not acknowledged",
            written.failed
        )));
    }
    say(format!(
        "wrote {} messages ({} hostile of {} kinds, {} valid)",
        written.delivered,
        plan.hostile,
        crate::hostile::Kind::ALL.len(),
        plan.valid
    ));
    let checked = bed.check(CheckPlan {
        acknowledged: written.delivered,
        manifest: Some(&manifest),
        ..CheckPlan::default()
    })?;
    if checked.report.passed() {
        bed.still_running("scorer-1")?;
        bed.still_running("scorer-2")?;
        for name in ["scorer-1", "scorer-2"] {
            let log = bed.log_of(name);
            if std::fs::read_to_string(&log).is_ok_and(|text| text.contains("panicked")) {
                return Err(ScenarioError::Violated(format!(
                    "{name} panicked; its log: {}",
                    log.display()
                )));
            }
        }
    }
    Ok(checked)
}

/// `http-abuse`: issue 29's load test in the fault suite. One scorer with the caps of
/// [`Caps::LOAD_TEST`] scores the stream while [`ABUSE`] slow and oversized clients hammer its HTTP
/// port; then every transaction must have exactly one verdict, the abuse's rules hold
/// ([`Findings::judge`]), and the scorer must still be the same process, score a valid request,
/// and drain on SIGTERM. Long: the steps in the order they happen.
pub(super) fn http_abuse(bed: &mut Testbed<'_>) -> Result<Checked, ScenarioError> {
    const SCORER: &str = "scorer-1";
    let caps = Caps::LOAD_TEST;
    bed.start_scorer_with(SCORER, &caps.flags())?;
    bed.wait_ready(&[SCORER])?;
    let addr = bed.scorer_addr(SCORER)?;
    let pid = bed.scorer_pid(SCORER)?;
    let memory = || {
        Memory::of(pid).map_err(|e| {
            ScenarioError::Violated(format!("cannot read the memory of {SCORER}: {e}"))
        })
    };
    let producer = bed.start_producer(ABUSE_TRANSACTIONS, ABUSE_RATE);
    bed.wait_midstream(1_000, &producer)?;

    // The stream flows; the API reads a body of the largest size it accepts; then the abuse.
    let warm_up = bed.block_on(abuse_once(addr, Kind::FullBody))?;
    let before = memory()?;
    let start = bed.progress()?;
    say(format!(
        "{} slow and oversized HTTP clients for {:?}; {SCORER} RSS {} MiB",
        ABUSE.clients,
        ABUSE.duration,
        before.rss >> 20
    ));
    let tally = bed.block_on(http_abuse::run(addr, ABUSE))?;
    bed.still_running(SCORER)?;
    let end = bed.progress()?;
    let after = memory()?;
    let metrics = bed.ask(SCORER, "/metrics", None)?;
    let findings = Findings {
        caps,
        plan: ABUSE,
        warm_up,
        tally,
        before,
        after,
        written_during: end.input_total() - start.input_total(),
        scored_during: end.verdicts.values().sum::<i64>() - start.verdicts.values().sum::<i64>(),
        rejected: metrics
            .map(|(_, text)| http_abuse::rejected(&text))
            .unwrap_or_default(),
    };
    say(format!(
        "abuse over: {} connections; peak RSS {} MiB over the RSS before, bound {} MiB",
        findings.tally.connections(),
        findings.growth() >> 20,
        caps.memory_bound() >> 20
    ));

    // Every transaction has exactly one verdict, and the abuse broke no rule.
    let summary = producer.finish(&bed.dir().join("producer.log"))?;
    let mut checked = bed.check(CheckPlan {
        acknowledged: summary.delivered,
        ..CheckPlan::default()
    })?;
    findings.judge(&mut checked.report);

    // The scorer is the same process, still scores over HTTP, and drains.
    bed.still_running(SCORER)?;
    match bed.ask(SCORER, "/v1/score", Some(VALID_TRANSACTION))? {
        Some((200, verdict)) if verdict.contains("\"decision\"") => {}
        answer => checked
            .report
            .problem("a valid request not scored after the abuse", || {
                format!("{answer:?}")
            }),
    }
    let log = bed.log_of(SCORER);
    if std::fs::read_to_string(&log).is_ok_and(|text| text.contains("panicked")) {
        return Err(ScenarioError::Violated(format!(
            "{SCORER} panicked; its log: {}",
            log.display()
        )));
    }
    let stopped = bed.terminate_scorer(SCORER)?;
    if stopped.killed || !stopped.status.success() {
        return Err(ScenarioError::Violated(format!(
            "{SCORER} did not drain after SIGTERM: {}; its log: {}",
            stopped.status,
            log.display()
        )));
    }
    checked.abuse = Some(findings);
    Ok(checked)
}
