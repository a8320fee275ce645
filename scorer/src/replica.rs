//! The state one scorer replica shares between its stream side and its HTTP side.

use std::sync::Arc;

use aegis_core::clock::now_ms;
use aegis_core::{Model, Thresholds};
use anyhow::{Context, Result};

use crate::config::ScorerConfig;
use crate::http::live::LiveFeed;
use crate::metrics::Metrics;
use crate::models::{Installed, Models, Origin};
use crate::stream::assignment::Assignment;
use crate::stream::clients::registry;
use crate::stream::scoring::Scorer;
use crate::stream::state::StateLimits;
use aegis_core::account_state::StateParams;
use aegis_core::rules::RuleSet;

/// A running replica's shared state — its scorer, metrics, partition assignment and live feed —
/// read by both sides: the stream side writes it, the HTTP side shows it.
pub struct ReplicaState {
    pub scorer: Arc<Scorer>,
    pub metrics: Arc<Metrics>,
    pub assignment: Arc<Assignment>,
    /// The live page's view of the verdicts topic.
    pub live: Arc<LiveFeed>,
}

impl ReplicaState {
    /// Loads the model (with threshold overrides) for a replica; fails with one line on a bad
    /// model file or flag.
    pub fn new(config: &ScorerConfig) -> Result<ReplicaState> {
        Self::with_model(config, load_model(config)?)
    }

    /// [`ReplicaState::new`] with a model already loaded by [`load_model`]: the live model until
    /// the models topic says otherwise.
    pub fn with_model(config: &ScorerConfig, model: Model) -> Result<ReplicaState> {
        let (framing, registry) = registry(config)?;
        let live = Installed {
            model: Arc::new(model),
            arrived_at: now_ms(),
            origin: Origin::File {
                path: config.model.display().to_string(),
            },
        };
        let rules = match &config.rules {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("--rules {}: cannot read it", path.display()))?;
                RuleSet::from_json(&bytes).with_context(|| format!("--rules {}", path.display()))?
            }
            None => RuleSet::empty(),
        };
        let limits = StateLimits {
            params: StateParams::default(),
            max_accounts: usize::try_from(config.state_max_accounts).unwrap_or(usize::MAX),
            ttl_ms: i64::try_from(config.state_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        };
        let metrics = Arc::new(Metrics::new(&live.model));
        metrics.rules_loaded(&rules);
        Ok(ReplicaState {
            scorer: Arc::new(Scorer::new(
                Models::new(live),
                rules,
                limits,
                crate::stream::state::changelog_restore(config),
                metrics.clone(),
                framing,
                registry,
            )),
            metrics,
            assignment: Arc::default(),
            live: Arc::new(LiveFeed::new(now_ms())),
        })
    }
}

/// Loads the model and applies threshold overrides; fails with one line on a bad file or flag.
pub fn load_model(config: &ScorerConfig) -> Result<Model> {
    let mut model = Model::load(&config.model)?;
    let review = config.review_threshold.unwrap_or(model.thresholds.review);
    let block = config.block_threshold.unwrap_or(model.thresholds.block);
    model.thresholds =
        Thresholds::new(review, block).context("--review-threshold / --block-threshold")?;
    Ok(model)
}
