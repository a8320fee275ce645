//! Partition ends for the first stage, asked of the broker by a thread of its own.
//!
//! A transaction waits while its labels partition may hold labels not read yet (and a label
//! while its transactions partition may): the stage needs that partition's end, asked no longer
//! than [`FRESH_FOR`] ago. Asking is a round trip to the broker; made on the stage's path, one
//! per partition, it held the stage still for 40 % of its time on the card spec (docs/benchmarks.md,
//! "The card spec on the stream"). Here the stage only reads what is known: when an end is not
//! known or too old, it says which it wants and moves on to other partitions; the thread asks
//! for every wanted partition of a topic in one request, and wakes the stage when the answer is
//! in.

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
    /// Each (topic, partition)'s end and when it was asked.
    known: HashMap<(String, i32), (i64, Instant)>,
    wanted: BTreeSet<(String, i32)>,
    closed: bool,
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

    /// `topic`'s partition `p`'s end if it was asked within [`FRESH_FOR`]; else `None`, and it
    /// is wanted (the stage is woken through [`Ends::answered`] when it is known).
    pub fn fresh(&self, topic: &str, p: i32) -> Option<i64> {
        let mut state = self.shared.lock();
        let key = (topic.to_owned(), p);
        match state.known.get(&key) {
            Some(&(end, asked)) if asked.elapsed() < FRESH_FOR => Some(end),
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
            let asked = Instant::now();
            match aegis_kafka::read::latest_offsets(reader, topic, &partitions, ASK_TIMEOUT) {
                Ok(ends) => {
                    let mut state = shared.lock();
                    for (p, end) in ends {
                        state.known.insert((topic.to_owned(), p), (end, asked));
                    }
                }
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
