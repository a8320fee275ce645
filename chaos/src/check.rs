//! `aegis-chaos check`: waits until the scorers' group has committed the whole input topic (or
//! stops making progress), then reads the input, verdict and dead-letter topics to their ends and
//! compares them message by message (see [`crate::ledger`]).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tokio_util::sync::CancellationToken;

use crate::ledger::{self, DeadLetter, Expectations, Input, Report, VerdictAt};
use crate::{manifest, topic};

/// How long reading one topic to its end may take.
const READ_TIMEOUT: Duration = Duration::from_secs(180);
/// How often the group's progress is polled and, at most, reported.
const POLL: Duration = Duration::from_millis(500);
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Where to look.
#[derive(Clone, Debug)]
pub struct Topics {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// The scorers' consumer group.
    pub group: String,
    /// Input topic.
    pub input: String,
    /// Verdict topic.
    pub verdicts: String,
    /// Dead-letter topic.
    pub dlq: String,
}

/// Waits until `group` has committed every partition of the input topic up to its end. Returns
/// how many input messages are still uncommitted: 0, or what was left when the group made no
/// progress for `stall` or `timeout` passed; an error once `stop` fires.
pub fn wait_for_group(
    topics: &Topics,
    timeout: Duration,
    stall: Duration,
    stop: &CancellationToken,
) -> Result<i64> {
    let started = Instant::now();
    let mut best = i64::MAX;
    let mut progressed = Instant::now();
    let mut reported = Instant::now();
    loop {
        if stop.is_cancelled() {
            bail!("stopped while waiting for group {}", topics.group);
        }
        let progress = topic::high_watermarks(&topics.brokers, &topics.input).and_then(|ends| {
            let committed = topic::committed(&topics.brokers, &topics.group, &topics.input)?;
            Ok((ends, committed))
        });
        let (ends, committed) = match progress {
            Ok(both) => both,
            // A busy broker may not answer in time: that is no progress, not an error.
            Err(e) if progressed.elapsed() <= stall && started.elapsed() <= timeout => {
                eprintln!("aegis-chaos: {e:#}; asking again");
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => return Err(e),
        };
        let behind: i64 = ends
            .iter()
            .map(|(p, end)| (end - committed.get(p).copied().unwrap_or(0)).max(0))
            .sum();
        if behind == 0 {
            eprintln!(
                "aegis-chaos: group {} committed the whole input ({} messages) after {:.1?}",
                topics.group,
                ends.values().sum::<i64>(),
                started.elapsed()
            );
            return Ok(0);
        }
        if behind < best {
            best = behind;
            progressed = Instant::now();
        }
        if progressed.elapsed() > stall || started.elapsed() > timeout {
            eprintln!(
                "aegis-chaos: group {} still has {behind} messages uncommitted after {:.0?}; comparing anyway",
                topics.group,
                started.elapsed()
            );
            return Ok(behind);
        }
        if reported.elapsed() > REPORT_EVERY {
            eprintln!(
                "aegis-chaos: waiting for group {}: {behind} messages uncommitted",
                topics.group
            );
            reported = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}

/// Reads the verdict and dead-letter topics to their ends and compares them with the input: the
/// manifest of `aegis-chaos fuzz` if given, else the input topic read to its end.
pub fn compare(topics: &Topics, manifest: Option<&Path>, expect: &Expectations) -> Result<Report> {
    let inputs: Vec<Input> = match manifest {
        Some(path) => manifest::load(path)?,
        None => read(topics, &topics.input)?
            .into_iter()
            .map(Input::from_record)
            .collect(),
    };
    let verdicts: Vec<VerdictAt> = read(topics, &topics.verdicts)?
        .iter()
        .map(VerdictAt::from_record)
        .collect();
    let dead_letters: Vec<DeadLetter> = read(topics, &topics.dlq)?
        .into_iter()
        .map(DeadLetter::from_record)
        .collect();
    Ok(ledger::compare(&inputs, &verdicts, &dead_letters, expect))
}

fn read(topics: &Topics, topic: &str) -> Result<Vec<topic::Record>> {
    let started = Instant::now();
    let records = topic::read_to_end(&topics.brokers, topic, READ_TIMEOUT)?;
    eprintln!(
        "aegis-chaos: read {} messages of {topic} in {:.1?}",
        records.len(),
        started.elapsed()
    );
    Ok(records)
}
