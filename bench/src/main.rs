//! aegis-bench: the probes scripts/bench runs.
fn main() {}
