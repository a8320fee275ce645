//! Card Precision@k over a test period ([`aegis_core::card_precision`], the one implementation the
//! trainer, `aegis-outcomes` and the live page share), with its days named for the report.
//!
//! The Handbook's test sets also leave out cards *known* compromised before a test day — from
//! labels that have arrived by then — since those are blocked already: [`KnownCompromised`].

use std::collections::HashMap;

use aegis_core::card_precision::DailyCardPrecision;

use aegis_core::spec::time::DAY_MS;
use serde::Serialize;

/// One scored transaction, as Card Precision@k needs it.
#[derive(Clone, Copy, Debug)]
pub struct EntityRow<'a> {
    /// Its event time, ms since the Unix epoch (its day is the UTC calendar day).
    pub time_ms: i64,
    /// The card (or whichever entity the spec names).
    pub entity: &'a str,
    /// The model's score: only the order matters.
    pub score: f64,
    pub is_fraud: bool,
}

/// Card Precision@k over some days.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CardPrecision {
    /// The entity field the cards are.
    pub entity: String,
    pub k: usize,
    /// The mean of the days' precisions.
    pub value: f64,
    /// Days with at least one transaction.
    pub days: usize,
    pub per_day: Vec<DayPrecision>,
}

/// One day's Card Precision@k.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DayPrecision {
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Compromised cards among the day's top k, ÷ k.
    pub precision: f64,
    /// Cards with a fraud that day, not found on an earlier day: how many could have been found.
    pub compromised: usize,
}

/// Card Precision@`k` of `rows` (any order) whose cards are values of `entity`.
pub fn card_precision(rows: &[EntityRow], entity: &str, k: usize) -> CardPrecision {
    let mut in_order: Vec<&EntityRow> = rows.iter().collect();
    in_order.sort_by_key(|r| r.time_ms);
    let mut daily = DailyCardPrecision::new(k);
    let mut days = Vec::new();
    for row in in_order {
        days.extend(daily.add(row.time_ms, row.entity, row.score, row.is_fraud));
    }
    days.extend(daily.finish());
    let per_day: Vec<DayPrecision> = days
        .iter()
        .map(|d| DayPrecision {
            day: crate::spec::period::instant(d.day * DAY_MS),
            precision: d.precision,
            compromised: d.compromised,
        })
        .collect();
    CardPrecision {
        entity: entity.to_owned(),
        k,
        value: daily.mean().unwrap_or(0.0),
        days: per_day.len(),
        per_day,
    }
}

/// Cards whose fraud is known on a given day: a fraud of theirs, since `since`, whose label has
/// arrived by the start of that day. As the Handbook counts it, day by day: with a 7-day delay, a
/// test day knows the frauds of 8 or more days before it.
pub struct KnownCompromised {
    /// Each card's first fraud day on or after `since`.
    first_fraud_day: HashMap<String, i64>,
    /// The label delay in whole days, rounded up.
    delay_days: i64,
}

impl KnownCompromised {
    /// From every fraud read (event time, card), counting those at or after `since_ms`, with
    /// labels arriving `delay_ms` after their transaction.
    pub fn new<'a>(
        frauds: impl IntoIterator<Item = (i64, &'a str)>,
        since_ms: i64,
        delay_ms: i64,
    ) -> KnownCompromised {
        let mut first_fraud_day: HashMap<String, i64> = HashMap::new();
        for (time_ms, card) in frauds {
            if time_ms < since_ms {
                continue;
            }
            let day = time_ms.div_euclid(DAY_MS);
            first_fraud_day
                .entry(card.to_owned())
                .and_modify(|d| *d = (*d).min(day))
                .or_insert(day);
        }
        KnownCompromised {
            first_fraud_day,
            delay_days: (delay_ms + DAY_MS - 1).div_euclid(DAY_MS),
        }
    }

    /// Whether `card` is known compromised on the day of `time_ms`.
    pub fn is_known(&self, card: &str, time_ms: i64) -> bool {
        let day = time_ms.div_euclid(DAY_MS);
        self.first_fraud_day
            .get(card)
            .is_some_and(|&first| first + self.delay_days < day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 17_713 * DAY_MS; // 2018-07-01

    fn row(day: i64, card: &str, score: f64, is_fraud: bool) -> EntityRow<'_> {
        EntityRow {
            time_ms: T0 + day * DAY_MS + 3_600_000,
            entity: card,
            score,
            is_fraud,
        }
    }

    #[test]
    fn days_are_named_and_the_figure_is_the_core_s() {
        // Day 0: card a (fraud, best 0.9), b (legit 0.8), c (fraud 0.1). Top 2: a, b → 1/2.
        let rows = [
            row(0, "a", 0.2, true),
            row(0, "a", 0.9, false),
            row(0, "b", 0.8, false),
            row(0, "c", 0.1, true),
        ];
        let cp = card_precision(&rows, "card", 2);
        assert_eq!(cp.days, 1);
        assert_eq!(cp.value, 0.5);
        assert_eq!(cp.per_day[0].compromised, 2);
        assert_eq!(cp.per_day[0].day, "2018-07-01");
    }

    #[test]
    fn a_fraud_is_known_the_delay_plus_one_day_later_as_the_handbook_counts() {
        let frauds = [(T0 + 5_000, "a"), (T0 - DAY_MS, "b")];
        let known = KnownCompromised::new(frauds, T0, 7 * DAY_MS);
        // a's fraud on day 0: known from day 8 on, not on day 7.
        assert!(!known.is_known("a", T0 + 7 * DAY_MS + 1));
        assert!(known.is_known("a", T0 + 8 * DAY_MS));
        // b's fraud is before `since`: never counted.
        assert!(!known.is_known("b", T0 + 30 * DAY_MS));
        assert!(!known.is_known("c", T0 + 30 * DAY_MS));
    }
}
