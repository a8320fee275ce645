//! The random forest as Aegis scores it: hyper-parameters ([`ForestParams`], recorded in the model
//! artifact) and the compiled flat form ([`CompiledForest`]) — the same numbers as smartcore's
//! `predict`, bit for bit, plus per-feature contributions that explain each score. Fitting with
//! smartcore lives in `aegis-trainer`, which compiles what it fits through
//! [`CompiledForest::from_trees`].

// The only modules of the workspace allowed `unsafe` code, the SIMD kernels: intrinsics need it
// (pointer loads, stores and gathers, and calling code compiled for a CPU feature after checking
// the CPU has it). Every unsafe block in them says why it is sound (`// SAFETY:`); `unsafe_code`
// is denied elsewhere.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512;
mod bitvector;
mod compiled;
mod dispatch;
mod kernel;
mod params;
mod ranks;
#[cfg(test)]
mod tests;

pub use compiled::{CompiledForest, ForestShapeError, Node};
pub use dispatch::{BatchKernel, KernelUnavailable, UnknownBatchKernel};
pub use params::{ForestParams, InvalidParams};
