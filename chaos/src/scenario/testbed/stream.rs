//! Where a scenario's stream stands: snapshots of the moment of a fault, the wait for the
//! middle of the stream, and the final check of every message.

use std::path::Path;
use std::time::{Duration, Instant};

use super::Testbed;
use crate::check;
use crate::fault::Fault;
use crate::ledger::Expectations;
use crate::scenario::producer::ProducerRun;
use crate::scenario::{say, Checked, ScenarioError};

/// How long the stream may take to reach the point where a fault is injected.
const MIDSTREAM_LIMIT: Duration = Duration::from_secs(120);
/// The check's bounds on waiting for the group to commit the whole input: in all, and without
/// progress.
const CHECK_TIMEOUT: Duration = Duration::from_secs(600);
const CHECK_STALL: Duration = Duration::from_secs(60);

/// What [`Testbed::check`] compares against.
#[derive(Default)]
pub struct CheckPlan<'p> {
    /// Messages the writer had acknowledged.
    pub acknowledged: u64,
    /// The fuzz manifest, when the input is not all from the producer.
    pub manifest: Option<&'p Path>,
    /// The snapshot taken at the fault.
    pub fault: Option<Fault>,
    /// Most messages that may be repeated across the fault.
    pub max_repeated: Option<u64>,
}

impl Testbed<'_> {
    /// Snapshots the moment of a fault (committed offsets, then the topics' ends; three tries)
    /// and saves it to `DIR/fault.json`.
    pub fn snapshot(&self) -> Result<Fault, ScenarioError> {
        let mut tries = 1;
        let fault = loop {
            match Fault::take(&self.topics) {
                Ok(fault) => break fault,
                Err(e) if tries < 3 => {
                    say(format!(
                        "snapshot attempt {tries} failed ({e:#}); trying again"
                    ));
                    tries += 1;
                }
                Err(source) => {
                    return Err(ScenarioError::Kafka {
                        what: "snapshot of the fault",
                        source,
                    })
                }
            }
        };
        let path = self.dir.join("fault.json");
        fault.save(&path).map_err(|source| ScenarioError::Kafka {
            what: "snapshot of the fault",
            source,
        })?;
        Ok(fault)
    }

    /// [`Testbed::snapshot`], saying `what` happened and how much of what was written was
    /// committed then.
    pub fn fault(&self, what: &str) -> Result<Fault, ScenarioError> {
        let fault = self.snapshot()?;
        say(format!(
            "{what}: committed {} of {} written",
            fault.committed_total(),
            fault.input_total()
        ));
        Ok(fault)
    }

    /// Waits (bounded) until the producer has written `want` transactions and the scorers have
    /// committed some: the stream is flowing and a fault lands in the middle of it.
    pub fn wait_midstream(&self, want: i64, producer: &ProducerRun) -> Result<(), ScenarioError> {
        let deadline = Instant::now() + MIDSTREAM_LIMIT;
        let mut last = None;
        loop {
            if self.cancel.is_cancelled() {
                return Err(ScenarioError::Cancelled);
            }
            if producer.is_finished() {
                return Err(ScenarioError::Violated(
                    "the producer ended before the fault".to_owned(),
                ));
            }
            if let Ok(fault) = Fault::take(&self.topics) {
                if fault.input_total() >= want && fault.committed_total() > 0 {
                    return Ok(());
                }
                last = Some(fault);
            }
            if Instant::now() >= deadline {
                let last = last.map_or_else(
                    || "no answer".to_owned(),
                    |f| {
                        format!(
                            "committed {} of {} written",
                            f.committed_total(),
                            f.input_total()
                        )
                    },
                );
                return Err(ScenarioError::Violated(format!(
                    "the stream did not reach {want} transactions with some committed within \
                     {MIDSTREAM_LIMIT:?} (last: {last})"
                )));
            }
            self.pause(Duration::from_millis(500))?;
        }
    }

    /// How far the stream has got: the group's committed offsets and the input and verdict
    /// topics' ends (a [`Fault`] snapshot, not saved).
    pub fn progress(&self) -> Result<Fault, ScenarioError> {
        Fault::take(&self.topics).map_err(|source| ScenarioError::Kafka {
            what: "reading the stream's progress",
            source,
        })
    }

    /// Waits (bounded) for the group to commit the whole input, then checks every input
    /// message's outcome.
    pub(in crate::scenario) fn check(&self, plan: CheckPlan<'_>) -> Result<Checked, ScenarioError> {
        let kafka = |source| ScenarioError::Kafka {
            what: "the check",
            source,
        };
        check::wait_for_group(&self.topics, CHECK_TIMEOUT, CHECK_STALL, self.cancel)
            .map_err(kafka)?;
        let expect = Expectations {
            input_topic: self.topics.input.clone(),
            sent: Some(plan.acknowledged),
            fault: plan.fault,
            max_repeated: plan.max_repeated,
        };
        let report = check::compare(&self.topics, plan.manifest, &expect).map_err(kafka)?;
        Ok(Checked {
            acknowledged: plan.acknowledged,
            report,
            abuse: None,
        })
    }

    /// Waits for the producer's last acknowledgement, then checks every message against `fault`
    /// (at most `max_repeated` verdicts repeated across it, when given).
    pub(in crate::scenario) fn check_after(
        &self,
        producer: ProducerRun,
        fault: Fault,
        max_repeated: Option<u64>,
    ) -> Result<Checked, ScenarioError> {
        let summary = producer.finish(&self.dir.join("producer.log"))?;
        self.check(CheckPlan {
            acknowledged: summary.delivered,
            fault: Some(fault),
            max_repeated,
            ..CheckPlan::default()
        })
    }
}
