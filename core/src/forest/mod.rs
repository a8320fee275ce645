//! The random forest as Aegis scores it: hyper-parameters ([`ForestParams`], recorded in the model
//! artifact) and the compiled flat form ([`CompiledForest`]) — the same numbers as smartcore's
//! `predict`, bit for bit, plus per-feature contributions that explain each score. Fitting with
//! smartcore lives in `aegis-trainer`, which compiles what it fits through
//! [`CompiledForest::from_trees`].

mod compiled;
mod kernel;
mod params;

pub use compiled::{CompiledForest, ForestShapeError, Node};
pub use params::{ForestParams, InvalidParams};
