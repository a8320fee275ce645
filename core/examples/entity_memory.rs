//! What the card spec's entity tables cost in memory, measured: the resident set before and after
//! feeding `N` transactions through one stage's [`FeatureEngine`] (docs/streaming-features.md,
//! "Memory"). Four runs: N cards (or terminals) with one transaction each, and N/100 with 100
//! each, all within an hour so nothing falls out of a window. The first gives the bytes of an
//! entity with one transaction; the second, mostly those of a transaction.
//!
//!   cargo run -p aegis-core --example entity_memory -- 1000000
//!
//! Linux only (reads /proc/self/statm). The layout of the types, hence the figure, is the same
//! in debug and release builds.

use std::path::Path;

use aegis_core::spec::engine::FeatureEngine;
use aegis_core::spec::record::{Record, Value};
use aegis_core::spec::Spec;

const START_MS: i64 = 1_522_540_800_000; // 2018-04-01 00:00 UTC

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A card payment: transaction `n` of `card` at `terminal`, spread over the first hour.
fn payment(n: i64, card: i64, terminal: i64, total: i64) -> Record {
    let time = START_MS + n * 3_600_000 / total.max(1);
    Record {
        values: vec![
            Value::Integer(n),
            Value::Integer(time),
            Value::Integer(card),
            Value::Integer(terminal),
            Value::Float(10.0 + (n % 97) as f64),
            Value::Integer(0),
        ],
        event_time_ms: time,
        label: Some(false),
    }
}

/// Resident bytes per transaction fed, and the engine's entities and transactions after.
fn measure(
    engine: FeatureEngine,
    n: i64,
    entity: impl Fn(i64) -> (i64, i64),
) -> (f64, usize, usize) {
    let mut engine = engine;
    let mut out = Vec::new();
    let before = resident_bytes();
    for i in 0..n {
        let (card, terminal) = entity(i);
        engine.observe(&payment(i, card, terminal, n), &mut out);
    }
    let after = resident_bytes();
    let table = engine
        .tables()
        .next()
        .map(|t| (t.keys, t.events))
        .unwrap_or_default();
    let per = after.saturating_sub(before) as f64 / n as f64;
    drop(engine);
    (per, table.0, table.1)
}

/// Transaction `i`'s card and terminal.
type Entities = fn(i64) -> (i64, i64);

/// The runs: name, whose features (card or terminal), and each transaction's entities.
const RUNS: [(&str, &str, Entities); 4] = [
    ("cards, 1 transaction each", "CUSTOMER_ID", |i| (i, 0)),
    ("cards, 100 transactions each", "CUSTOMER_ID", |i| {
        (i / 100, 0)
    }),
    ("terminals, 1 transaction each", "TERMINAL_ID", |i| (0, i)),
    ("terminals, 100 transactions each", "TERMINAL_ID", |i| {
        (0, i / 100)
    }),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: i64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let Some(run) = args.get(2).and_then(|a| a.parse::<usize>().ok()) else {
        // Each run in a process of its own: memory freed by one would be reused by the next.
        println!("{n} transactions through one stage's engine of specs/cards.toml");
        println!(
            "{:<34} {:>14} {:>10} {:>12}",
            "run", "bytes per tx", "entities", "transactions"
        );
        for run in 0..RUNS.len() {
            let status = std::env::current_exe().and_then(|exe| {
                std::process::Command::new(exe)
                    .arg(n.to_string())
                    .arg(run.to_string())
                    .status()
            });
            if !status.is_ok_and(|s| s.success()) {
                eprintln!("entity_memory: run {run} failed");
                std::process::exit(1);
            }
        }
        return;
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/cards.toml");
    let spec = match Spec::load(&path) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("entity_memory: {e}");
            std::process::exit(1);
        }
    };
    let (name, entity, of) = RUNS[run.min(RUNS.len() - 1)];
    let mut engine = FeatureEngine::with_features(&spec, |f| f.entity() == Some(entity));
    if entity == "TERMINAL_ID" {
        engine = engine.labels_applied();
    }
    let (per, keys, events) = measure(engine, n, of);
    println!("{name:<34} {per:>14.1} {keys:>10} {events:>12}");
}
