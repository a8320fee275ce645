//! The rule set a replica applies beside its live model ([`aegis_core::rules`]), in a slot swapped
//! whole: a batch takes the rule set once at its start and keeps it to its end, as it does the
//! model ([`crate::models`]). `--rules FILE` fills it at start-up; the rules topic replaces it
//! ([`crate::control`]).

use std::sync::{Arc, RwLock};

use aegis_core::rules::RuleSet;

/// The replica's rule set slot.
#[derive(Debug)]
pub struct Rules {
    current: RwLock<Arc<RuleSet>>,
}

impl Rules {
    /// A slot holding `rules`.
    pub fn new(rules: RuleSet) -> Rules {
        Rules {
            current: RwLock::new(Arc::new(rules)),
        }
    }

    /// The rule set now; a batch takes it once and keeps it.
    pub fn current(&self) -> Arc<RuleSet> {
        // A poisoned lock means a panic while swapping an Arc: the value is still whole.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the rule set: the next batch uses the new one.
    pub fn install(&self, rules: RuleSet) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
    }
}
