//! # aegis-chaos
//!
//! The Kafka side of `scripts/chaos`, which proves Aegis's delivery guarantee under faults: the
//! script starts the broker, scorers and producer and injects the faults (SIGKILL, broker restart,
//! SIGTERM); this crate writes hostile input ([`fuzz`]) and checks the outcome of every input
//! message ([`check`]): each must have a verdict (found by transaction id) or a dead letter with the
//! expected reason (found by source partition and offset). Lost outcomes, wrong routes or reasons,
//! altered dead letters and repeats of committed work fail the check; duplicates within the
//! uncommitted window are counted, as at-least-once delivery allows them ([`fault`]).

pub mod check;
pub mod expect;
pub mod fault;
pub mod fuzz;
pub mod hostile;
pub mod ledger;
pub mod manifest;
pub mod topic;
