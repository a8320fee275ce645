//! The four scenarios, step by step: start the scorers, start the writer, inject the fault in the
//! middle of the stream, check every message, then check the processes that had to survive.

use std::time::Duration;

use aegis_core::topics::TRANSACTIONS_TOPIC;

use super::testbed::{CheckPlan, Testbed};
use super::{say, Checked, ScenarioError};
use crate::fuzz::{self, FuzzPlan};

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
