//! The rule sets a replica applies beside its live model ([`aegis_core::rules`]), by name: the
//! operator's own from `--rules FILE`, and those published on the rules topic (key = set name).
//! The rules in use are every set's, in name order, in one slot swapped whole: a batch takes them
//! once at its start and keeps them to its end, as it does the model ([`crate::models`]).
//!
//! Lifecycle (docs/rules.md):
//! - a published set replaces the set of its name — the file's too, if it has the file's name
//!   (that is how an operator updates it without a restart);
//! - a tombstone (an empty record) removes only the set of its key; for the file's name it
//!   removes what was published over the file, and the file's set applies again. Nothing on the
//!   topic drops the file's rules for good;
//! - a set whose rule names another set already uses is refused whole: names are metric labels
//!   and must stay unique among the rules in use.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use aegis_core::clock::now_ms;
use aegis_core::rules::RuleSet;
use serde::Serialize;
use utoipa::ToSchema;

/// Where a rule set in use came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleOrigin {
    /// `--rules FILE`, at start-up.
    File,
    /// The rules topic.
    Topic,
}

/// One rule set in use, as `GET /v1/model` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RuleSetView {
    /// The set's name (its key on the rules topic).
    pub name: String,
    /// Its version, as published.
    pub version: u32,
    /// How many rules it has.
    pub rules: usize,
    pub origin: RuleOrigin,
    /// When this replica installed it, milliseconds since the Unix epoch.
    pub arrived_at: i64,
}

/// What a tombstone did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// The published set of that name is gone.
    Removed,
    /// What was published over the file's set is gone: the file's set applies again.
    BackToFile,
    /// No set has that name: nothing changed.
    Unknown,
}

/// One installed set and where it came from.
#[derive(Clone, Debug)]
struct Installed {
    set: RuleSet,
    origin: RuleOrigin,
    arrived_at: i64,
}

/// The replica's rule sets.
#[derive(Debug)]
pub struct Rules {
    /// The `--rules` file's set, if one was given.
    file: Option<Installed>,
    /// Sets from the topic, by name.
    published: Mutex<BTreeMap<String, Installed>>,
    /// Every set's rules in one set: what batches take.
    current: RwLock<Arc<RuleSet>>,
}

impl Rules {
    /// The rule sets of a replica started with `file` (`--rules FILE`), before the topic is read.
    pub fn new(file: Option<RuleSet>) -> Rules {
        let file = file.map(|set| Installed {
            set,
            origin: RuleOrigin::File,
            arrived_at: now_ms(),
        });
        let rules = Rules {
            file,
            published: Mutex::new(BTreeMap::new()),
            current: RwLock::new(Arc::new(RuleSet::empty())),
        };
        rules.recombine(&BTreeMap::new());
        rules
    }

    /// The rules in use now; a batch takes them once and keeps them.
    pub fn current(&self) -> Arc<RuleSet> {
        // A poisoned lock means a panic while swapping an Arc: the value is still whole.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Installs a set from the topic in place of the set of its name. `Err` says why it is
    /// refused (a rule name another set uses); the sets in use then stay as they were.
    pub fn publish(&self, set: RuleSet) -> Result<(), String> {
        let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = published.clone();
        next.insert(
            set.name.clone(),
            Installed {
                set,
                origin: RuleOrigin::Topic,
                arrived_at: now_ms(),
            },
        );
        let combined = self.combine(&next)?;
        *published = next;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(combined);
        Ok(())
    }

    /// A tombstone for `name`: removes only that set (see the module's doc).
    pub fn remove(&self, name: &str) -> Removal {
        let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        if published.remove(name).is_none() {
            return Removal::Unknown;
        }
        self.recombine(&published);
        if self.file.as_ref().is_some_and(|f| f.set.name == name) {
            Removal::BackToFile
        } else {
            Removal::Removed
        }
    }

    /// The sets in use, in name order.
    pub fn view(&self) -> Vec<RuleSetView> {
        let published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        self.in_use(&published)
            .into_iter()
            .map(|i| RuleSetView {
                name: i.set.name.clone(),
                version: i.set.version,
                rules: i.set.rules.len(),
                origin: i.origin,
                arrived_at: i.arrived_at,
            })
            .collect()
    }

    /// The sets in use given `published`: each published one, and the file's unless a published
    /// one has its name.
    fn in_use<'a>(&'a self, published: &'a BTreeMap<String, Installed>) -> Vec<&'a Installed> {
        let mut sets: BTreeMap<&str, &Installed> =
            published.iter().map(|(n, i)| (n.as_str(), i)).collect();
        if let Some(file) = &self.file {
            sets.entry(file.set.name.as_str()).or_insert(file);
        }
        sets.into_values().collect()
    }

    /// Every set in use as one set: its rules in name order, then in each set's order.
    fn combine(&self, published: &BTreeMap<String, Installed>) -> Result<RuleSet, String> {
        let sets = self.in_use(published);
        let mut combined = RuleSet {
            name: sets
                .iter()
                .map(|i| i.set.name.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            version: 0,
            rules: Vec::new(),
        };
        for installed in sets {
            for rule in &installed.set.rules {
                if let Some(other) = combined.rules.iter().find(|r| r.name == rule.name) {
                    return Err(format!(
                        "rule {:?} of set {:?} has the name of a rule already in use ({:?}); rule names are unique among the sets in use",
                        rule.name, installed.set.name, other.name
                    ));
                }
                combined.rules.push(rule.clone());
            }
        }
        if combined.name.is_empty() {
            combined.name = RuleSet::empty().name;
        }
        Ok(combined)
    }

    /// Recombines after a removal (which cannot make names collide).
    fn recombine(&self, published: &BTreeMap<String, Installed>) {
        let combined = self.combine(published).unwrap_or_else(|_| RuleSet::empty());
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(combined);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
mod tests {
    use super::*;

    fn set(name: &str, version: u32, rules: &[&str]) -> RuleSet {
        let rules: Vec<String> = rules
            .iter()
            .map(|r| {
                format!(
                    r#"{{"name":"{r}","action":"REVIEW","reason":"r","when":[{{"field":"amount","op":">","value":1}}]}}"#
                )
            })
            .collect();
        let json = format!(
            r#"{{"name":"{name}","version":{version},"rules":[{}]}}"#,
            rules.join(",")
        );
        RuleSet::from_json(json.as_bytes()).unwrap()
    }

    fn names(rules: &Rules) -> Vec<String> {
        rules
            .current()
            .rules
            .iter()
            .map(|r| r.name.clone())
            .collect()
    }

    #[test]
    fn a_tombstone_removes_its_own_set_and_never_the_file_s() {
        let rules = Rules::new(Some(set("default", 1, &["drain"])));
        assert_eq!(names(&rules), ["drain"]);
        rules.publish(set("velocity", 1, &["burst"])).unwrap();
        assert_eq!(names(&rules), ["drain", "burst"]);
        // Another set's tombstone leaves the file's rules.
        assert_eq!(rules.remove("velocity"), Removal::Removed);
        assert_eq!(names(&rules), ["drain"]);
        // A set of the file's name replaces it; its tombstone brings the file's back.
        rules.publish(set("default", 2, &["drain_v2"])).unwrap();
        assert_eq!(names(&rules), ["drain_v2"]);
        assert_eq!(rules.view()[0].origin, RuleOrigin::Topic);
        assert_eq!(rules.remove("default"), Removal::BackToFile);
        assert_eq!(names(&rules), ["drain"]);
        assert_eq!(rules.view()[0].origin, RuleOrigin::File);
        assert_eq!(rules.view()[0].version, 1);
        // A tombstone for a name nobody uses changes nothing.
        assert_eq!(rules.remove("nothing"), Removal::Unknown);
        assert_eq!(rules.remove("default"), Removal::Unknown);
        assert_eq!(names(&rules), ["drain"]);
    }

    #[test]
    fn a_set_reusing_a_rule_name_in_use_is_refused_whole() {
        let rules = Rules::new(Some(set("default", 1, &["drain"])));
        let err = rules.publish(set("other", 1, &["x", "drain"])).unwrap_err();
        assert!(err.contains("\"drain\""), "{err}");
        assert_eq!(names(&rules), ["drain"]);
        assert_eq!(rules.view().len(), 1);
    }

    #[test]
    fn without_a_file_the_topic_s_sets_are_all_there_is() {
        let rules = Rules::new(None);
        assert!(rules.current().rules.is_empty());
        assert!(rules.view().is_empty());
        rules.publish(set("b", 1, &["two"])).unwrap();
        rules.publish(set("a", 3, &["one"])).unwrap();
        assert_eq!(names(&rules), ["one", "two"], "in name order");
        assert_eq!(rules.current().name, "a+b");
        assert_eq!(rules.remove("a"), Removal::Removed);
        assert_eq!(names(&rules), ["two"]);
    }
}
