//! The loop's part for late labels ([`crate::late`]): a label the live join gives up on is handed
//! to the lookup thread (or counted as not to be looked for), and what the lookup finds is written
//! like any outcome.

use aegis_core::clock::now_ms;
use aegis_core::{Label, Outcome};
use anyhow::{bail, Result};

use super::Joiner;
use crate::join::{Eviction, Role, Source};
use crate::late::{Found, LateLabel, LateResult, Looked, Lookups};

/// The next late-label lookup done; never, without lookups.
pub(super) async fn next_looked(lookups: &mut Option<Lookups>) -> Option<Looked> {
    match lookups {
        Some(lookups) => lookups.results.recv().await,
        None => std::future::pending().await,
    }
}

/// Late labels: what the live join gives up on is looked for in the verdicts topic.
impl Joiner {
    /// Releases what a join gave up on — except a label the live join gave up on, which is
    /// looked for in the verdicts topic first ([`crate::late`]) when it may still be there.
    pub(super) fn evicted(&mut self, eviction: Eviction) {
        let Eviction {
            role,
            source,
            reason,
            label,
        } = eviction;
        self.metrics.evicted(role, source.side, reason);
        if let (Role::Live, Some(label)) = (role, label) {
            if let Some(late) = self.late_label(source, label) {
                self.late_waiting.push_back(late);
                self.ask_lookups();
                return;
            }
        }
        self.ledger.finish(source);
    }

    /// The lookup of a label the live join gave up on, or `None` (counted) when it is not to be
    /// looked for: no lookups, no event time, or beyond the horizon.
    fn late_label(&self, source: Source, label: Label) -> Option<LateLabel> {
        self.lookups.as_ref()?;
        let epoch = *self.epochs.get(&source.partition)?;
        let Some(event_time) = label.event_time else {
            self.metrics.late_label(LateResult::NoEventTime);
            return None;
        };
        let horizon_ms =
            i64::try_from(self.config.label_horizon.saturating_mul(1000)).unwrap_or(i64::MAX);
        let age_ms = now_ms().saturating_sub(event_time);
        if age_ms > horizon_ms {
            self.metrics.late_label(LateResult::BeyondHorizon);
            let seen = self.metrics.late_labels(LateResult::BeyondHorizon);
            if seen == 1 || seen.is_multiple_of(1000) {
                tracing::warn!(
                    tx_id = %label.tx_id, partition = source.partition, offset = source.offset,
                    event_time, age_days = age_ms / 86_400_000, beyond_horizon = seen,
                    "a label older than --label-horizon (event time) is not joined: its verdict may have left the verdicts topic (docs/outcomes.md, late labels)"
                );
            }
            return None;
        }
        Some(LateLabel {
            epoch,
            source,
            label,
            event_time,
        })
    }

    /// Hands waiting late labels to the lookup thread while it has room.
    pub(super) fn ask_lookups(&mut self) {
        let Some(lookups) = &self.lookups else {
            return;
        };
        while let Some(late) = self.late_waiting.pop_front() {
            if let Err(late) = lookups.ask(late) {
                self.late_waiting.push_front(late);
                break;
            }
        }
    }

    /// A lookup is done: a verdict found is joined and written (the label finished when the
    /// outcome is acknowledged); otherwise the label is finished now, counted. A lookup that
    /// failed for good stops the service without storing the label's offset.
    pub(super) async fn looked(&mut self, looked: Looked) -> Result<()> {
        let Looked {
            late,
            found,
            scanned,
        } = looked;
        self.metrics.late_scanned(scanned);
        self.ask_lookups();
        let partition = late.source.partition;
        let held = self.epochs.get(&partition) == Some(&late.epoch)
            && self.assignment.holds(partition, late.epoch);
        if !held {
            return Ok(()); // taken away meanwhile: its next owner reads the label again
        }
        match found {
            Err(e) => bail!(
                "cannot look for the verdict of the late label of {} in {}: {e}; stopping without storing its offset",
                late.label.tx_id,
                self.config.verdicts_topic
            ),
            Ok(Found::Nothing(result)) => {
                self.metrics.late_label(result);
                tracing::debug!(tx_id = %late.label.tx_id, partition, scanned, result = result.as_str(), "late label: no verdict found");
                self.ledger.finish(late.source);
            }
            Ok(Found::Verdict(verdict)) => {
                self.metrics.late_label(LateResult::Joined);
                let outcome = Outcome::join(&verdict, &late.label, now_ms());
                self.send(late.epoch, outcome, vec![late.source]).await?;
            }
        }
        Ok(())
    }
}
