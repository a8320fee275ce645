//! The producer of a scenario, in a thread of this process (`aegis_producer::run`), so that what
//! it had acknowledged arrives as a typed [`Summary`].

use std::path::Path;
use std::thread::JoinHandle;

use aegis_producer::{Counters, ProducerConfig, Summary};
use aegis_stack::StackError;
use tokio_util::sync::CancellationToken;

use super::ScenarioError;

/// The producer running in a thread of its own. Dropping it stops it (it flushes and ends).
pub struct ProducerRun {
    thread: Option<JoinHandle<anyhow::Result<Summary>>>,
    stop: CancellationToken,
}

impl ProducerRun {
    /// Starts the producer with `config` in a thread; `stop` (or dropping the run) stops it.
    pub fn start(config: ProducerConfig, stop: CancellationToken) -> ProducerRun {
        let thread_stop = stop.clone();
        let thread =
            std::thread::spawn(move || aegis_producer::run(&config, Counters::new(), &thread_stop));
        ProducerRun {
            thread: Some(thread),
            stop,
        }
    }

    /// Whether the producer has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the producer to end; its summary, which must show every transaction
    /// acknowledged. The summary is also written to `log`.
    pub fn finish(mut self, log: &Path) -> Result<Summary, ScenarioError> {
        let thread = self.thread.take().ok_or_else(|| {
            ScenarioError::Violated("the producer was already waited for".to_owned())
        })?;
        let summary = thread
            .join()
            .map_err(|_| ScenarioError::Violated("the producer's thread panicked".to_owned()))?
            .map_err(ScenarioError::Producer)?;
        std::fs::write(log, format!("{summary}\n"))
            .map_err(StackError::file("cannot write", log))?;
        if summary.failed > 0 {
            return Err(ScenarioError::Violated(format!(
                "the producer had {} transactions not acknowledged ({summary})",
                summary.failed
            )));
        }
        Ok(summary)
    }
}

impl Drop for ProducerRun {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
