//! The state one scorer replica shares between its stream side and its HTTP side: what it decides
//! with (model and rule slots), what it remembers (account states), and what it shows (metrics,
//! assignment, live feed). The stream and the control topics write it; the HTTP side reads it.

use std::sync::Arc;

use aegis_core::account_state::StateParams;
use aegis_core::avro::Framing;
use aegis_core::clock::now_ms;
use aegis_core::decide::{decide, first_of_its_account};
use aegis_core::rules::RuleSet;
use aegis_core::{Model, Thresholds, Transaction, Verdict};
use anyhow::{Context, Result};

use crate::config::ScorerConfig;
use crate::live::LiveFeed;
use crate::metrics::Metrics;
use crate::models::{Installed, Models};
use crate::rules::Rules;
use crate::stream::assignment::Assignment;
use crate::stream::clients::registry;
use crate::stream::decode::Decoder;
use crate::stream::state::{changelog_restore, StateLimits, StateStore};
use crate::trust::Trust;

/// A running replica's shared state.
pub struct ReplicaState {
    /// The live and shadow models.
    pub models: Models,
    /// The rule sets applied beside the live model.
    pub rules: Rules,
    /// Which records of the models and rules topics may be installed.
    pub trust: Trust,
    /// Per-account state of the partitions held.
    pub states: StateStore,
    pub metrics: Arc<Metrics>,
    /// The input partitions held, each under its epoch.
    pub assignment: Arc<Assignment>,
    /// The live page's view of the verdicts.
    pub live: Arc<LiveFeed>,
    /// How input messages are read (with the registry's writer schemas, if one is given).
    pub decoder: Arc<Decoder>,
    /// How verdicts are written.
    pub framing: Framing,
}

impl ReplicaState {
    /// Loads the model (with threshold overrides) for a replica; fails with one line on a bad
    /// model file or flag.
    pub fn new(config: &ScorerConfig) -> Result<ReplicaState> {
        Self::with_live(config, Installed::file(config, load_model(config)?))
    }

    /// [`ReplicaState::new`] with the live model already loaded by [`load_model`], or taken from
    /// the models topic ([`crate::control::first_live_model`]): the live model until the models
    /// topic says otherwise.
    pub fn with_live(config: &ScorerConfig, live: Installed) -> Result<ReplicaState> {
        let trust = Trust::from_config(config)?;
        let (framing, registry) = registry(config)?;

        let rules = match &config.rules {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("--rules {}: cannot read it", path.display()))?;
                Some(
                    RuleSet::from_json_for(&bytes, live.model.spec())
                        .with_context(|| format!("--rules {}", path.display()))?,
                )
            }
            None => None,
        };
        let limits = StateLimits {
            params: StateParams::default(),
            max_accounts: usize::try_from(config.state_max_accounts).unwrap_or(usize::MAX),
            ttl_ms: i64::try_from(config.state_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            max_skew_ms: config.max_clock_skew_ms(),
        };
        let metrics = Arc::new(Metrics::new(&live.model));
        let spec = live.model.spec();
        let key = match spec.key_field() {
            Some(field) if !live.model.is_paysim() => field.name.clone(),
            _ => "account".to_owned(),
        };
        if let Some(rules) = &rules {
            metrics.rules_loaded(rules);
        }
        Ok(ReplicaState {
            models: Models::new(live),
            rules: Rules::new(rules),
            trust,
            states: StateStore::new(limits, changelog_restore(config), metrics.clone()),
            metrics,
            assignment: Arc::default(),
            live: Arc::new(LiveFeed::new(now_ms(), &key)),
            decoder: Arc::new(Decoder::new(
                &config.input_topic,
                registry,
                config.max_clock_skew_ms(),
            )),
            framing,
        })
    }

    /// Verdicts for transactions scored outside the stream (`POST /v1/score`): the live model and
    /// the rules, each transaction taken as its account's first (the API keeps no state).
    pub fn decide_alone(&self, txs: &[&Transaction], now_ms: i64) -> Vec<Verdict> {
        let params = self.states.params();
        let states: Vec<_> = txs
            .iter()
            .map(|tx| first_of_its_account(tx, params))
            .collect();
        decide(
            &self.models.live(),
            &self.rules.current(),
            txs,
            &states,
            now_ms,
        )
    }
}

/// Loads the model and applies threshold overrides — a model of its own, whose version names its
/// thresholds ([`Model::with_thresholds`]); fails with one line on a bad file or flag.
pub fn load_model(config: &ScorerConfig) -> Result<Model> {
    // The model names its spec: PaySim's runs the PaySim pipeline, another the stages of
    // `crate::entities`.
    let path = config.model.as_deref().context("no --model FILE given")?;
    let model = Model::load(path)?;
    let review = config.review_threshold.unwrap_or(model.thresholds().review);
    let block = config.block_threshold.unwrap_or(model.thresholds().block);
    let thresholds =
        Thresholds::new(review, block).context("--review-threshold / --block-threshold")?;
    Ok(model.with_thresholds(thresholds))
}
