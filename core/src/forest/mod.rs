//! The random forest: hyper-parameters ([`ForestParams`]), fitting with smartcore ([`fit`]), and the
//! compiled flat form that scores ([`CompiledForest`]) — the same numbers as smartcore's `predict`,
//! bit for bit, plus per-feature contributions that explain each score.

mod compiled;
mod fit;
mod kernel;
mod params;

pub use compiled::{CompiledForest, ForestShapeError, Node};
pub use fit::{balanced_weights, compile, fit, FitError, FittedForest, SmartcoreForest};
pub use params::{ForestParams, InvalidParams};
