//! # aegis-chaos
//!
//! Proves Aegis's delivery guarantee under faults on a real local broker (`aegis-chaos run`,
//! which `scripts/chaos` calls): [`scenario`] starts the broker, scorers and producer through
//! `aegis-stack`'s library and injects the faults (SIGKILL of a scorer or of the broker, SIGTERM);
//! this crate also writes hostile input ([`fuzz`]), runs slow and oversized HTTP clients against a
//! scorer whose memory must stay within its caps ([`http_abuse`]), and checks the outcome of every
//! input message ([`check`]): each must have a verdict (found by transaction id) or a dead letter
//! with the expected reason (found by source partition and offset). Lost outcomes, wrong routes or
//! reasons, altered dead letters and repeats of committed work fail the check; duplicates within
//! the uncommitted window are counted, as at-least-once delivery allows them ([`fault`]).

pub mod check;
pub mod expect;
pub mod fault;
pub mod fuzz;
pub mod hostile;
pub mod http_abuse;
pub mod ledger;
pub mod manifest;
pub mod scenario;
pub mod topic;
