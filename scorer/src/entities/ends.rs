//! Partition ends for the first stage, asked of the broker by a thread of its own.
//!
//! A transaction waits while its labels partition may hold labels not read yet (and a label
//! while its transactions partition may): the stage needs that partition's end as the broker
//! gave it no longer than [`FRESH_FOR`] ago, or in answer to a want made since the records were
//! received. Asking is a round trip to the broker; made on the stage's path, one partition at a
//! time, it held the stage still for 30–45 % of its time on the card spec (docs/benchmarks.md,
//! "Where the card scorer's time went"). Here the stage only reads what is known: when an end is
//! not known or too old, it says which it wants and moves on to other partitions; the thread
//! asks for every wanted partition of a topic in one request, and wakes the stage when the
//! answer is in.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use tokio::sync::Notify;

/// How long an end, once asked, is taken as known.
pub const FRESH_FOR: Duration = Duration::from_millis(50);
/// How long one request for ends may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// The wait after a request failed (a loaded or restarting broker) before the next.
const AFTER_FAILURE: Duration = Duration::from_millis(50);

/// The stage's side: what is known, and the wanted ends handed to the thread.
pub struct Ends {
    shared: Arc<Shared>,
    /// Notified whenever an answer comes in.
    pub answered: Arc<Notify>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when an end is wanted or the stage is gone.
    wanted_signal: Condvar,
}

#[derive(Default)]
struct State {
    known: HashMap<(String, i32), Known>,
    wanted: BTreeSet<(String, i32)>,
    closed: bool,
}

/// A partition's end as the broker answered it.
struct Known {
    end: i64,
    /// When the answer came.
    at: Instant,
    /// Whether the stage has read it. An answer not read yet is taken however old: it answers a
    /// want made after the records waiting for it were received (taking only answers younger than
    /// [`FRESH_FOR`] would wait for ever on a broker slower than that).
    read: bool,
}

impl Ends {
    /// Starts the thread, which asks with `reader` (a client of its own).
    pub fn start(reader: BaseConsumer) -> std::io::Result<Ends> {
        let shared = Arc::new(Shared::default());
        let answered = Arc::new(Notify::new());
        let (thread_shared, thread_answered) = (shared.clone(), answered.clone());
        std::thread::Builder::new()
            .name("aegis-ends".into())
            .spawn(move || ask_while_wanted(&reader, &thread_shared, &thread_answered))?;
        Ok(Ends { shared, answered })
    }

    /// `topic`'s partition `p`'s end if the broker gave it within [`FRESH_FOR`] or since the
    /// stage last asked; else `None`, and it is wanted (the stage is woken through
    /// [`Ends::answered`] when it is known).
    pub fn fresh(&self, topic: &str, p: i32) -> Option<i64> {
        let mut state = self.shared.lock();
        let key = (topic.to_owned(), p);
        match state.known.get_mut(&key) {
            Some(known) if !known.read || known.at.elapsed() < FRESH_FOR => {
                known.read = true;
                Some(known.end)
            }
            _ => {
                if state.wanted.insert(key) {
                    self.shared.wanted_signal.notify_one();
                }
                None
            }
        }
    }
}

impl Drop for Ends {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wanted_signal.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The broker's answer for `topic`, come at `at`: each partition's end, not read yet.
    fn record(&self, topic: &str, ends: &[(i32, i64)], at: Instant) {
        let mut state = self.lock();
        for &(p, end) in ends {
            let known = Known {
                end,
                at,
                read: false,
            };
            state.known.insert((topic.to_owned(), p), known);
        }
    }
}

/// The thread: waits for wanted ends, asks for each topic's in one request, records the
/// answers and wakes the stage; until the stage drops its [`Ends`].
fn ask_while_wanted(reader: &BaseConsumer, shared: &Shared, answered: &Notify) {
    loop {
        let wanted = {
            let mut state = shared.lock();
            while state.wanted.is_empty() && !state.closed {
                state = shared
                    .wanted_signal
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.closed {
                return;
            }
            std::mem::take(&mut state.wanted)
        };
        let mut by_topic: HashMap<&str, Vec<i32>> = HashMap::new();
        for (topic, p) in &wanted {
            by_topic.entry(topic).or_default().push(*p);
        }
        for (topic, partitions) in by_topic {
            match aegis_kafka::read::latest_offsets(reader, topic, &partitions, ASK_TIMEOUT) {
                Ok(ends) => shared.record(topic, &ends, Instant::now()),
                Err(e) => {
                    // Not known yet: the stage asks again when it next looks.
                    tracing::debug!(topic, error = %e, "partition ends not known yet");
                    std::thread::sleep(AFTER_FAILURE);
                }
            }
        }
        answered.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ends with no thread: the test plays the broker's answers.
    fn detached() -> Ends {
        Ends {
            shared: Arc::new(Shared::default()),
            answered: Arc::new(Notify::new()),
        }
    }

    fn wanted(ends: &Ends) -> Vec<(String, i32)> {
        ends.shared.lock().wanted.iter().cloned().collect()
    }

    #[test]
    fn an_unknown_end_is_wanted_and_taken_once_answered() {
        let ends = detached();
        assert_eq!(ends.fresh("labels", 2), None);
        assert_eq!(wanted(&ends), [("labels".to_owned(), 2)]);
        ends.shared.record("labels", &[(2, 40)], Instant::now());
        assert_eq!(ends.fresh("labels", 2), Some(40));
        // Fresh for a while: read again without asking.
        assert_eq!(ends.fresh("labels", 2), Some(40));
        assert_eq!(ends.fresh("labels", 1), None);
    }

    #[test]
    fn an_answer_slower_than_the_freshness_is_still_taken_once_then_asked_again() {
        // On a loaded broker the answer comes more than FRESH_FOR after it was asked for: the
        // stage takes it once (it answers a want made after the waiting records came), rather
        // than asking again for ever.
        let ends = detached();
        assert_eq!(ends.fresh("labels", 0), None);
        let long_ago = Instant::now() - FRESH_FOR * 4;
        ends.shared.record("labels", &[(0, 7)], long_ago);
        assert_eq!(ends.fresh("labels", 0), Some(7));
        ends.shared.lock().wanted.clear();
        assert_eq!(
            ends.fresh("labels", 0),
            None,
            "read once, and old: asked again"
        );
        assert_eq!(wanted(&ends), [("labels".to_owned(), 0)]);
    }
}
