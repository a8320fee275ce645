//! The model artifact: one file holding everything the scorer needs — format version, model version
//! (a content hash), feature list, thresholds, a training summary, the compiled forest and its
//! calibration — and scoring a transaction with it.
//!
//! Format 2 added the calibration ([`crate::calibration`]): `fraud_probability` is the calibrated
//! probability, and thresholds are in calibrated space. A format-1 file (no calibration) is read as
//! uncalibrated — probabilities are the forest's raw score, as they always were for it, and its
//! thresholds were chosen on that score — and [`Model::is_calibrated`] says so.
//!
//! Format 3 is a model of any [spec](crate::spec): the spec travels inside the artifact with its
//! hash, its features are the spec's, and its version covers the spec. A PaySim model records the
//! built-in PaySim spec too, but is still written as format 2 with the version it always had:
//! its features are this build's own ([`features::extract`]), which any format-2 reader computes.
//!
//! File layout: a first line `AEGIS-MODEL <format>` then the model as JSON (floats round-trip
//! exactly). Loading checks the header, the format, the content hash and the forest's structure,
//! and fails with one line saying what is wrong and what to do.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::calibration::Calibration;
use crate::features::{self, Features, FEATURE_NAMES, N_FEATURES};
use crate::forest::{CompiledForest, ForestParams};
use crate::spec::Spec;
use crate::transaction::Transaction;
use crate::verdict::{Contribution, Decision, Explanation, Thresholds, Verdict};

/// The newest artifact format this build reads, and the one it writes for a model of a spec other
/// than PaySim's.
pub const FORMAT_VERSION: u32 = 3;
/// The format of a PaySim model: readable by every build since calibration came.
pub const PAYSIM_FORMAT: u32 = 2;
const MAGIC: &str = "AEGIS-MODEL";
/// Most reasons a verdict carries.
pub const MAX_REASONS: usize = 3;
/// Smallest contribution to P(fraud) worth naming as a reason.
const MIN_REASON_CONTRIBUTION: f64 = 0.005;

/// How the model was trained and how good it was on held-out steps; see the trainer's report for
/// the full figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// When training finished, milliseconds since the Unix epoch.
    pub trained_at: i64,
    /// The input files.
    pub data: Vec<String>,
    /// Each input file's legit weight (how many real legit rows one of its legit rows stands
    /// for), in the order of `data`; empty in models trained before it was recorded, whose files
    /// all had `legit_weight`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub legit_weights: Vec<f64>,
    /// Distinct rows read (a row in several files counts once).
    pub rows: u64,
    /// Fraud rows among them.
    pub frauds: u64,
    /// The forest's hyper-parameters.
    pub params: ForestParams,
    /// Weight of a legit row of the test steps in metrics (undoes down-sampling of legit rows;
    /// the largest, if overlapping files gave those rows different weights).
    pub legit_weight: f64,
    /// How rows were split by step into fit / threshold / test sets.
    pub split: String,
    /// Weighted average precision (area under the PR curve) on the test steps.
    pub average_precision: f64,
    /// Weighted ROC AUC on the test steps.
    pub roc_auc: f64,
    /// The steps the forest was fitted on (absent in models trained before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted_steps: Option<StepRange>,
    /// The steps the calibration and thresholds were chosen on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_steps: Option<StepRange>,
    /// The event time the forest was fitted on (models of a spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted_period: Option<Period>,
    /// The event time the calibration and thresholds were chosen on (models of a spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_period: Option<Period>,
}

/// A span of event time, milliseconds since the Unix epoch: `from` included, `until` not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// The first instant in it.
    pub from_ms: i64,
    /// The first instant after it.
    pub until_ms: i64,
}

impl Period {
    /// Whether `ms` lies in the period.
    pub fn contains(&self, ms: i64) -> bool {
        (self.from_ms..self.until_ms).contains(&ms)
    }
}

/// A range of PaySim steps (hours), both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRange {
    /// The first step.
    pub first: i32,
    /// The last step.
    pub last: i32,
}

impl StepRange {
    /// Whether `step` lies in the range.
    pub fn contains(&self, step: i32) -> bool {
        (self.first..=self.last).contains(&step)
    }
}

impl TrainingSummary {
    /// Whether a row of `step` lies in the steps the model was fitted or thresholded on, so that
    /// scoring it says little about how the model does on the future.
    pub fn has_seen_step(&self, step: i32) -> bool {
        [self.fitted_steps, self.threshold_steps]
            .iter()
            .flatten()
            .any(|range| range.contains(step))
    }

    /// Whether a row at `event_time_ms` lies in the event time the model was fitted or
    /// thresholded on (models of a spec).
    pub fn has_seen_time(&self, event_time_ms: i64) -> bool {
        [self.fitted_period, self.threshold_period]
            .iter()
            .flatten()
            .any(|period| period.contains(event_time_ms))
    }
}

/// A model file that cannot be used. Each message is one line naming the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read or written.
    #[error("model file {path}: {source}; train one with `aegis-trainer train --out {path}`")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file does not start with the Aegis header.
    #[error("{path} is not an Aegis model (it does not start with {MAGIC}); pass a file written by `aegis-trainer train`")]
    NotAModel {
        /// The file.
        path: PathBuf,
    },
    /// The file is of a newer format than this build reads.
    #[error("{path} is model format {found}, but this build reads format {FORMAT_VERSION} at most; upgrade Aegis or retrain the model with this version")]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// The format written in the file.
        found: u32,
    },
    /// The file ends early.
    #[error("{path} is truncated ({detail}); copy it again or retrain")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where it ends.
        detail: String,
    },
    /// The model was trained on data of another spec than the one given.
    #[error("{path} is a model of spec `{model_spec}`, not of spec `{wanted}`; use a model trained on `{wanted}` data, or data of `{model_spec}`")]
    OtherSpec {
        /// The file.
        path: PathBuf,
        /// The spec the model was trained on.
        model_spec: String,
        /// The spec of the data.
        wanted: String,
    },
    /// The file is damaged or inconsistent.
    #[error("{path} is corrupt: {detail}; copy it again or retrain")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is inconsistent.
        detail: String,
    },
}

/// A trained model, ready to score. Its fields are private: a model is made by
/// [`Model::new`] or read by [`Model::load`], and changed only by [`Model::with_thresholds`], so
/// its `model_version` always names its content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Artifact format version.
    format_version: u32,
    /// Content hash of features, thresholds and forest: the same model always has the same version.
    model_version: String,
    /// Names of the features the forest's tests refer to, in index order.
    features: Vec<String>,
    /// The decision thresholds chosen at training time.
    thresholds: Thresholds,
    /// How the model was trained.
    training: TrainingSummary,
    /// The forest, compiled for scoring.
    forest: CompiledForest,
    /// The map from the forest's raw score to a calibrated probability; `None` in format-1 files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    calibration: Option<Calibration>,
    /// The spec its features come from, with its hash; `None` in files written before specs,
    /// which are PaySim's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<ModelSpec>,
    /// Whether `spec` is PaySim's (or absent), worked out once: scoring asks for every verdict.
    #[serde(skip)]
    paysim: bool,
}

/// The spec inside a model artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// [`Spec::hash`] of `spec`, checked when the model is read.
    pub hash: String,
    /// The spec itself.
    pub spec: Spec,
}

impl Model {
    /// The artifact format it was read from (this build writes [`FORMAT_VERSION`]).
    pub fn format_version(&self) -> u32 {
        self.format_version
    }

    /// The content hash of its features, thresholds, forest and calibration: the same model
    /// always has the same version, and another model another.
    pub fn model_version(&self) -> &str {
        &self.model_version
    }

    /// The names of the features the forest's tests refer to, in index order.
    pub fn features(&self) -> &[String] {
        &self.features
    }

    /// Its REVIEW and BLOCK thresholds (calibrated probabilities).
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// How it was trained, and how good it was on held-out steps.
    pub fn training(&self) -> &TrainingSummary {
        &self.training
    }

    /// The forest, compiled for scoring.
    pub fn forest(&self) -> &CompiledForest {
        &self.forest
    }

    /// The map from the forest's raw score to a calibrated probability (`None` in format 1).
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    /// The spec its features come from (PaySim's for a file written before specs).
    pub fn spec(&self) -> &Spec {
        self.spec.as_ref().map_or(Spec::paysim(), |s| &s.spec)
    }

    /// Whether it scores PaySim transactions, with this build's own features.
    pub fn is_paysim(&self) -> bool {
        self.paysim
    }

    /// Fails with one line unless the model was trained on `spec` (same content; `path` names
    /// the model in the message).
    pub fn expect_spec(&self, path: &Path, spec: &Spec) -> Result<(), ModelError> {
        let same = if spec.is_paysim() {
            self.paysim
        } else {
            self.spec.as_ref().is_some_and(|s| s.hash == spec.hash())
        };
        if same {
            return Ok(());
        }
        let mut model_spec = self.spec().name.clone();
        if model_spec == spec.name {
            model_spec.push_str(" (another version of it)");
        }
        Err(ModelError::OtherSpec {
            path: path.to_owned(),
            model_spec,
            wanted: spec.name.clone(),
        })
    }
}

/// The model's answer for one transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// P(fraud) in [0, 1].
    pub fraud_probability: f64,
    /// The decision under the model's thresholds.
    pub decision: Decision,
    /// What pushed the probability up most, most important first.
    pub reasons: Vec<String>,
    /// The score split into the features' contributions; `None` when the decision is ALLOW.
    pub explanation: Option<Explanation>,
}

impl Model {
    /// Wraps a forest trained on this build's [`FEATURE_NAMES`] and its calibration into a
    /// PaySim model, computing its version. `thresholds` are in calibrated space.
    pub fn new(
        forest: CompiledForest,
        calibration: Option<Calibration>,
        thresholds: Thresholds,
        training: TrainingSummary,
    ) -> Self {
        Model::of_spec(Spec::paysim(), forest, calibration, thresholds, training)
    }

    /// Wraps a forest trained on `spec`'s features (in [`Spec::feature_names`] order) into a
    /// model carrying the spec, computing its version.
    pub fn of_spec(
        spec: &Spec,
        forest: CompiledForest,
        calibration: Option<Calibration>,
        thresholds: Thresholds,
        training: TrainingSummary,
    ) -> Self {
        let features = spec.feature_names();
        let spec = ModelSpec {
            hash: spec.hash(),
            spec: spec.clone(),
        };
        let mut model = Model {
            format_version: if spec.spec.is_paysim() {
                PAYSIM_FORMAT
            } else {
                FORMAT_VERSION
            },
            model_version: String::new(),
            features,
            thresholds,
            training,
            forest,
            calibration,
            paysim: spec.spec.is_paysim(),
            spec: Some(spec),
        };
        model.model_version = model.content_version();
        model
    }

    /// Whether `fraud_probability` is calibrated (format 2 and later) or the forest's raw score.
    pub fn is_calibrated(&self) -> bool {
        self.calibration.is_some()
    }

    /// Writes the model to `path` (atomically: a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let io = |source| ModelError::Io {
            path: path.to_owned(),
            source,
        };
        let tmp = path.with_extension("tmp");
        let mut file = std::io::BufWriter::new(fs::File::create(&tmp).map_err(io)?);
        self.write_to(&mut file).map_err(io)?;
        file.flush().map_err(io)?;
        drop(file);
        fs::rename(&tmp, path).map_err(io)
    }

    /// The artifact's bytes, exactly as [`Model::save`] writes them (what the models topic carries).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail, and a model always serializes (its floats are finite).
        let _ = self.write_to(&mut bytes);
        bytes
    }

    fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "{MAGIC} {}", self.format_version)?;
        serde_json::to_writer(out, self).map_err(std::io::Error::from)
    }

    /// The same model with other thresholds (in calibrated space), and so another version.
    pub fn with_thresholds(mut self, thresholds: Thresholds) -> Model {
        self.thresholds = thresholds;
        self.model_version = self.content_version();
        self
    }

    /// Reads and checks a model file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(path, &bytes)
    }

    /// Parses and checks a model from the bytes of a file (`path` is for messages).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, ModelError> {
        let corrupt = |detail: String| ModelError::Corrupt {
            path: path.to_owned(),
            detail,
        };
        let newline = bytes.iter().position(|b| *b == b'\n');
        let header =
            std::str::from_utf8(&bytes[..newline.unwrap_or(bytes.len()).min(64)]).unwrap_or("");
        let Some(format) = header.strip_prefix(MAGIC).map(str::trim) else {
            return Err(ModelError::NotAModel {
                path: path.to_owned(),
            });
        };
        let found: u32 = format
            .parse()
            .map_err(|_| corrupt(format!("header {header:?} has no format number")))?;
        if found > FORMAT_VERSION {
            return Err(ModelError::NewerFormat {
                path: path.to_owned(),
                found,
            });
        }
        let body = newline.map_or(&[][..], |n| &bytes[n + 1..]);
        let mut model: Model = serde_json::from_slice(body).map_err(|e| {
            if e.is_eof() {
                ModelError::Truncated {
                    path: path.to_owned(),
                    detail: format!("it ends after {} bytes", bytes.len()),
                }
            } else {
                corrupt(e.to_string())
            }
        })?;
        if let Some(calibration) = &model.calibration {
            calibration.check().map_err(|e| corrupt(e.to_string()))?;
        }
        if let Some(ModelSpec { hash, spec }) = &model.spec {
            if *hash != spec.hash() {
                return Err(corrupt(format!(
                    "its spec `{}` hashes to {}, not its recorded {hash}",
                    spec.name,
                    spec.hash()
                )));
            }
        }
        model.paysim = model.spec.as_ref().is_none_or(|s| s.spec.is_paysim());
        let expected = model.content_version();
        if expected != model.model_version {
            return Err(corrupt(format!(
                "its content hashes to {expected}, not its recorded version {}",
                model.model_version
            )));
        }
        Thresholds::new(model.thresholds.review, model.thresholds.block)
            .map_err(|e| corrupt(e.to_string()))?;
        if model.is_paysim() {
            model.use_this_builds_feature_order().map_err(corrupt)?;
        } else {
            model.check_spec_features().map_err(corrupt)?;
        }
        Ok(model)
    }

    /// A model of a spec lists exactly the spec's features, in its order, and its forest uses
    /// that many.
    fn check_spec_features(&self) -> Result<(), String> {
        let expected = self.spec().feature_names();
        if self.features != expected {
            return Err(format!(
                "it lists features {:?}, but its spec `{}` computes {expected:?}",
                self.features,
                self.spec().name
            ));
        }
        if self.forest.n_features() != expected.len() {
            return Err(format!(
                "its spec has {} features but its forest uses {}",
                expected.len(),
                self.forest.n_features()
            ));
        }
        Ok(())
    }

    /// Renumbers the forest's features into this build's [`FEATURE_NAMES`] order, so scoring can
    /// use [`features::extract`] directly. Fails if the model needs a feature this build lacks.
    fn use_this_builds_feature_order(&mut self) -> Result<(), String> {
        if self.features.len() != self.forest.n_features() {
            return Err(format!(
                "it lists {} features but its forest uses {}",
                self.features.len(),
                self.forest.n_features()
            ));
        }
        let map = self
            .features
            .iter()
            .map(|name| {
                features::index_of(name).ok_or_else(|| {
                    format!("it needs feature `{name}`, which this build does not compute (retrain it with this version)")
                })
            })
            .collect::<Result<Vec<usize>, String>>()?;
        self.forest
            .remap_features(&map, N_FEATURES)
            .map_err(|e| e.to_string())?;
        self.features = FEATURE_NAMES.iter().map(|s| (*s).to_owned()).collect();
        Ok(())
    }

    /// P(fraud) for one feature vector (in [`Model::features`] order): the forest's raw score,
    /// calibrated.
    pub fn probability(&self, features: &[f64]) -> f64 {
        self.calibrated(self.forest.predict(features))
    }

    /// [`Model::probability`] for many rows into `out` (one per row), through the forest's batch
    /// kernel: the fastest way to score many rows, with the same results.
    pub fn probabilities<R: AsRef<[f64]>>(&self, rows: &[R], out: &mut [f64]) {
        self.forest.predict_batch(rows, out);
        for p in out.iter_mut() {
            *p = self.calibrated(*p);
        }
    }

    /// The forest's raw score for one feature vector (the mean leaf of a forest fitted on
    /// class-balanced weights: a ranking, not a probability).
    pub fn raw_score(&self, features: &[f64]) -> f64 {
        self.forest.predict(features)
    }

    /// The calibrated probability of a raw score (the raw score itself when uncalibrated).
    pub fn calibrated(&self, raw: f64) -> f64 {
        self.calibration.as_ref().map_or(raw, |c| c.apply(raw))
    }

    /// The forest's raw score of one row (in [`Model::features`] order) split into its base value
    /// and each feature's contribution, every non-zero one listed, largest absolute value first:
    /// see [`Explanation`]. The raw score is the forest's own prediction, computed apart from the
    /// contributions, so `explanation.total()` checks against it.
    pub fn explain(&self, features: &[f64]) -> Explanation {
        self.explain_raw(features, self.forest.predict(features))
    }

    /// [`Model::explain`] for a row whose raw score the forest has computed already (the batch
    /// kernel's, which is the same bit for bit): the trees are not walked a third time.
    fn explain_raw(&self, features: &[f64], raw_score: f64) -> Explanation {
        let mut contributions = vec![0.0; self.forest.n_features()];
        let base_score = self.forest.contributions(features, &mut contributions);
        let mut ranked: Vec<(usize, f64)> = contributions
            .into_iter()
            .enumerate()
            .filter(|(_, c)| *c != 0.0)
            .collect();
        // Stable: equal contributions stay in feature order.
        ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        Explanation {
            base_score,
            raw_score,
            contributions: ranked
                .into_iter()
                .map(|(i, contribution)| Contribution {
                    feature: self.features[i].clone(),
                    value: features[i],
                    contribution,
                })
                .collect(),
        }
    }

    /// The features that pushed a score up most, read from its [`Model::explain`]ation, as short
    /// sentences with their contribution, e.g. `"origin account emptied (+0.31)"` (PaySim) or
    /// `"amount_to_card_mean_30d = 5.2 (+0.31)"` (another spec): at most [`MAX_REASONS`], each of
    /// at least 0.005. Contributions are in units of the forest's raw score, not of the
    /// calibrated probability.
    pub fn reasons_of(&self, explanation: &Explanation) -> Vec<String> {
        // Ranked by absolute value, so the positive ones come largest first.
        explanation
            .contributions
            .iter()
            .filter(|c| c.contribution >= MIN_REASON_CONTRIBUTION)
            .take(MAX_REASONS)
            .map(|c| {
                let index = self.features.iter().position(|name| *name == c.feature);
                let what = match index {
                    Some(i) if self.paysim => features::describe(i, c.value),
                    _ => format!("{} = {}", c.feature, c.value),
                };
                format!("{what} (+{:.2})", c.contribution)
            })
            .collect()
    }

    /// [`Model::reasons_of`] the row's [`Model::explain`]ation.
    pub fn reasons(&self, features: &[f64]) -> Vec<String> {
        self.reasons_of(&self.explain(features))
    }

    /// Scores one PaySim transaction under the model's thresholds. For a PaySim model
    /// ([`Model::is_paysim`]; the scorer and `publish` refuse others): a model of another spec
    /// scores its spec's features, through [`Model::probability`].
    ///
    /// # Panics
    /// If the model's forest needs more features than PaySim's 13.
    pub fn score(&self, tx: &Transaction) -> Score {
        let features = features::extract(tx);
        self.score_with(&features, self.probability(&features))
    }

    /// The score of one row (in [`Model::features`] order) whose probability is known already
    /// ([`Model::probability`], or [`Model::probabilities`] for a batch): its decision, and for
    /// REVIEW or BLOCK its explanation and the reasons read from it. An ALLOW costs nothing more:
    /// explaining a row walks every tree again (docs/explanations.md gives the cost).
    pub fn score_with(&self, features: &[f64], fraud_probability: f64) -> Score {
        self.score_explained(fraud_probability, || self.explain(features))
    }

    /// [`Model::score_with`], the explanation (when the decision needs one) from `explain`.
    fn score_explained(
        &self,
        fraud_probability: f64,
        explain: impl FnOnce() -> Explanation,
    ) -> Score {
        let decision = self.thresholds.decide(fraud_probability);
        let (reasons, explanation) = if decision == Decision::Allow {
            (Vec::new(), None)
        } else {
            let explanation = explain();
            (self.reasons_of(&explanation), Some(explanation))
        };
        Score {
            fraud_probability,
            decision,
            reasons,
            explanation,
        }
    }

    /// The verdict for one transaction, stamped with `scored_at` (ms since the Unix epoch).
    pub fn verdict(&self, tx: &Transaction, scored_at: i64) -> Verdict {
        self.to_verdict(tx, self.score(tx), scored_at)
    }

    /// The verdicts for many transactions, in order: the forest scores them together
    /// ([`CompiledForest::predict_batch`]), with the same results as one at a time. A REVIEW or
    /// BLOCK's explanation takes its raw score from the batch rather than walking the trees again.
    pub fn verdicts(&self, txs: &[&Transaction], scored_at: i64) -> Vec<Verdict> {
        let rows: Vec<Features> = txs.iter().map(|tx| features::extract(tx)).collect();
        let mut raw_scores = vec![0.0; rows.len()];
        self.forest.predict_batch(&rows, &mut raw_scores);
        txs.iter()
            .zip(rows.iter().zip(raw_scores))
            .map(|(tx, (row, raw))| {
                let score =
                    self.score_explained(self.calibrated(raw), || self.explain_raw(row, raw));
                self.to_verdict(tx, score, scored_at)
            })
            .collect()
    }

    fn to_verdict(&self, tx: &Transaction, score: Score, scored_at: i64) -> Verdict {
        Verdict::of(tx, score, &self.model_version, scored_at)
    }
}

impl Model {
    /// `rf-` and the first 12 hex digits of a SHA-256 over everything that decides a score: the
    /// features, thresholds, forest and calibration, and the spec — unless it is PaySim's, whose
    /// features are this build's own and named by `features` already, so that PaySim models keep
    /// the versions they had before specs.
    fn content_version(&self) -> String {
        let spec = self
            .spec
            .as_ref()
            .filter(|_| !self.paysim)
            .map(|s| s.hash.as_str());
        content_version(
            &self.features,
            &self.thresholds,
            &self.forest,
            self.calibration.as_ref(),
            spec,
        )
    }
}

/// The version of a model's parts (see [`Model::content_version`]).
fn content_version(
    features: &[String],
    thresholds: &Thresholds,
    forest: &CompiledForest,
    calibration: Option<&Calibration>,
    spec_hash: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    for name in features {
        h.update(name.as_bytes());
        h.update([0]);
    }
    h.update(thresholds.review.to_le_bytes());
    h.update(thresholds.block.to_le_bytes());
    h.update((forest.n_features() as u64).to_le_bytes());
    for root in forest.roots() {
        h.update(root.to_le_bytes());
    }
    for n in forest.nodes() {
        h.update(n.feature.to_le_bytes());
        h.update(n.threshold.to_le_bytes());
        h.update(n.left.to_le_bytes());
        h.update(n.right.to_le_bytes());
        h.update(n.value.to_le_bytes());
    }
    // Absent in format 1, so that those files keep the version they were given.
    if let Some(c) = calibration {
        h.update(c.method.as_bytes());
        for (x, y) in &c.points {
            h.update(x.to_le_bytes());
            h.update(y.to_le_bytes());
        }
    }
    if let Some(hash) = spec_hash {
        h.update(b"spec");
        h.update(hash.as_bytes());
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("rf-{hex}")
}
