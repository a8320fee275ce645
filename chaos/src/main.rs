//! aegis-chaos: fault scenarios (placeholder until scripts/chaos lands).
fn main() {}
