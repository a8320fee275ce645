//! `aegis-trainer`: trains the Aegis fraud forest on PaySim CSV (`train`), measures a model
//! artifact on any PaySim CSV (`evaluate`), and puts one on the models topic for the scorers to
//! swap in live (`publish`; `promote` and `rollback` change the live model from what that topic
//! holds — the only parts that talk to Kafka).
//!
//! Training splits rows by step (time), never at random: the forest is fitted on the earliest
//! steps, the ALLOW / REVIEW / BLOCK thresholds are chosen on the next ones, and every reported
//! figure comes from the latest steps, which neither has seen. Metrics weight each legit row by
//! what its file's sampling makes it stand for (`--data FILE:W`, or `--legit-weight` for one
//! file), so they hold at PaySim's natural fraud rate even on down-sampled data.
//!
//! The modules: the input ([`sources`] for `--data FILE:W` and the weights, [`dataset`] to read
//! the rows, [`split`] to cut them by time, [`state`] for the scorer's state features offline);
//! [`fit`] to grow and compile the forest; [`metrics`] for every weighted figure; [`plot`] for the
//! pictures; and one module per command — [`train`], [`evaluate`], `publish`, and `promote` (with
//! `rollback`).

// The input: files, their rows, the time split, the scorer's state features.
pub mod dataset;
pub mod sources;
pub mod split;
pub mod state;

// What the commands are made of.
pub mod fit;
pub mod metrics;
pub mod plot;

// The commands, and their path for data of any spec.
pub mod backtest;
pub mod evaluate;
#[cfg(feature = "publish")]
pub mod export;
#[cfg(feature = "publish")]
pub mod history;
#[cfg(feature = "publish")]
pub mod promote;
#[cfg(feature = "publish")]
pub mod publish;
pub mod spec;
pub mod train;

use std::path::PathBuf;

use clap::Args;

/// Flags of `aegis-trainer train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The spec the data is read by (docs/specs.md); PaySim's when not given.
    #[arg(long, env = "AEGIS_TRAINER_SPEC")]
    pub spec: Option<PathBuf>,
    /// Fit on rows from this date on (`YYYY-MM-DD`, UTC, or a timestamp); every earlier row
    /// still feeds the features' history. Needs --fit-until.
    #[arg(long, env = "AEGIS_TRAINER_FIT_FROM")]
    pub fit_from: Option<String>,
    /// Fit on rows before this date (exclusive: 2018-07-04 to 2018-07-11 is 7 days).
    #[arg(long, env = "AEGIS_TRAINER_FIT_UNTIL")]
    pub fit_until: Option<String>,
    /// CSV to train on, as FILE or FILE:W, where W is the file's legit weight (how many real
    /// legit transactions one of its legit rows stands for). Repeat (or separate with commas) for
    /// several files, each with its own :W; a row found in several files counts once.
    #[arg(
        long = "data",
        env = "AEGIS_TRAINER_DATA",
        required = true,
        value_delimiter = ','
    )]
    pub data: Vec<sources::DataSource>,
    /// Where to write the model artifact; the report and curves go beside it.
    #[arg(long, env = "AEGIS_TRAINER_OUT")]
    pub out: PathBuf,
    /// Number of trees in the forest [default: the spec's [training], else 100].
    #[arg(long, env = "AEGIS_TRAINER_TREES")]
    pub trees: Option<usize>,
    /// Depth cap of every tree (1–30); unbounded trees are never grown [default: the spec's, else
    /// 12].
    #[arg(long, env = "AEGIS_TRAINER_MAX_DEPTH")]
    pub max_depth: Option<u16>,
    /// Fewest training rows in a leaf [default: the spec's, else 1].
    #[arg(long, env = "AEGIS_TRAINER_MIN_SAMPLES_LEAF")]
    pub min_samples_leaf: Option<usize>,
    /// Features tried at each split [default: the spec's, else the square root of the feature
    /// count].
    #[arg(long, env = "AEGIS_TRAINER_FEATURES_PER_SPLIT")]
    pub features_per_split: Option<usize>,
    /// Weight of each fraud row when fitting, against 1 for a legit row [default: the spec's,
    /// else balanced: the legit rows ÷ the fraud rows, so a bootstrap sample is about half fraud].
    #[arg(long, env = "AEGIS_TRAINER_FRAUD_WEIGHT")]
    pub fraud_weight: Option<f64>,
    /// Seed for bootstrap samples and feature choice; same seed and data, same model.
    #[arg(long, env = "AEGIS_TRAINER_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Legit weight of a single --data file (default 1): how many real legit transactions one
    /// sampled row stands for (256.2 for the fraud-enriched PaySim sample). Several files take
    /// theirs as FILE:W.
    #[arg(long, env = "AEGIS_TRAINER_LEGIT_WEIGHT")]
    pub legit_weight: Option<f64>,
    /// BLOCK threshold: the lowest score at which weighted precision reaches this.
    #[arg(long, env = "AEGIS_TRAINER_BLOCK_PRECISION", default_value_t = 0.99)]
    pub block_precision: f64,
    /// REVIEW threshold: the lowest score at which weighted precision still reaches this (the
    /// share of reviewed cases that are fraud), for the highest recall a useful queue allows.
    #[arg(long, env = "AEGIS_TRAINER_REVIEW_PRECISION", default_value_t = 0.5)]
    pub review_precision: f64,
}

/// Flags of `aegis-trainer evaluate`.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// The model artifact to evaluate.
    #[arg(long, env = "AEGIS_TRAINER_MODEL")]
    pub model: PathBuf,
    /// A CSV with labels, of the model's spec.
    #[arg(long, env = "AEGIS_TRAINER_DATA")]
    pub data: PathBuf,
    /// The spec the data is read by; the model's own when not given (and it must be the
    /// model's).
    #[arg(long, env = "AEGIS_TRAINER_SPEC")]
    pub spec: Option<PathBuf>,
    /// Score rows from this date on (`YYYY-MM-DD`, UTC, or a timestamp); every earlier row still
    /// feeds the features' history. Needs --until.
    #[arg(long)]
    pub from: Option<String>,
    /// Score rows before this date (exclusive).
    #[arg(long)]
    pub until: Option<String>,
    /// Weight of each legit row in the metrics (256.2 for the fraud-enriched PaySim sample).
    #[arg(long, env = "AEGIS_TRAINER_LEGIT_WEIGHT", default_value_t = 1.0)]
    pub legit_weight: f64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write every prediction to this CSV: PaySim's in input order
    /// (`row,probability,decision,is_fraud`; `row` counts data rows from 1); another spec's in
    /// event-time order, named by its id field (`ID,probability,decision,is_fraud,known_compromised`).
    #[arg(long, env = "AEGIS_TRAINER_PREDICTIONS")]
    pub predictions: Option<PathBuf>,
}

impl TrainArgs {
    /// What `aegis-trainer train --data DATA --out OUT` reads: every other flag at its default
    /// (tests and tools set the fields they need with `..TrainArgs::new(data, out)`).
    pub fn new(data: PathBuf, out: PathBuf) -> TrainArgs {
        TrainArgs {
            spec: None,
            fit_from: None,
            fit_until: None,
            data: vec![sources::DataSource {
                path: data,
                legit_weight: None,
            }],
            out,
            trees: None,
            max_depth: None,
            min_samples_leaf: None,
            features_per_split: None,
            fraud_weight: None,
            seed: 42,
            legit_weight: None,
            block_precision: 0.99,
            review_precision: 0.5,
        }
    }

    /// The forest's hyper-parameters: each flag given, else the spec's `[training]` value, else
    /// the built-in default; checked.
    pub fn forest_params(
        &self,
        spec: &aegis_core::spec::Spec,
    ) -> anyhow::Result<aegis_core::forest::ForestParams> {
        let from_spec = spec.training.clone().unwrap_or_default();
        let defaults = aegis_core::forest::ForestParams::default();
        Ok(defaults
            .with_trees(self.trees.or(from_spec.trees).unwrap_or(defaults.trees))
            .with_max_depth(
                self.max_depth
                    .or(from_spec.max_depth)
                    .unwrap_or(defaults.max_depth),
            )
            .with_min_samples_leaf(
                self.min_samples_leaf
                    .or(from_spec.min_samples_leaf)
                    .unwrap_or(defaults.min_samples_leaf),
            )
            .with_features_per_split(self.features_per_split.or(from_spec.features_per_split))
            .with_seed(self.seed)
            .check_width(spec.feature_names().len())?)
    }

    /// A fraud row's weight when fitting: the flag, else the spec's, else `None` (balanced).
    pub fn fraud_weight(&self, spec: &aegis_core::spec::Spec) -> Option<f64> {
        self.fraud_weight
            .or_else(|| spec.training.as_ref().and_then(|t| t.fraud_weight))
    }
}

/// Checks a legit weight flag before any work.
pub fn check_legit_weight(w: f64) -> anyhow::Result<()> {
    sources::check_weight(w).map_err(|e| anyhow::anyhow!("--legit-weight: {e}"))
}

#[cfg(test)]
mod train_args_tests {
    use clap::Parser;

    use super::TrainArgs;

    #[derive(Parser)]
    struct Train {
        #[command(flatten)]
        args: TrainArgs,
    }

    #[test]
    fn new_is_what_the_command_line_reads_with_every_default() {
        let parsed = Train::try_parse_from(["train", "--data", "rows.csv", "--out", "m.model"])
            .map(|t| t.args)
            .expect("parses");
        let built = TrainArgs::new("rows.csv".into(), "m.model".into());
        assert_eq!(format!("{parsed:?}"), format!("{built:?}"));
    }
}
