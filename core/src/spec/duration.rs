//! A span of event time as a spec writes it: a whole number and a unit — `90s`, `30m`, `1h`,
//! `7d` — kept in milliseconds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of event time, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    ms: i64,
}

const UNITS: [(&str, i64); 4] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
];

impl Duration {
    /// One hour.
    pub const HOUR: Duration = Duration { ms: 3_600_000 };
    /// One day.
    pub const DAY: Duration = Duration { ms: 86_400_000 };

    /// `days` days.
    pub const fn days(days: i64) -> Duration {
        Duration {
            ms: days * 86_400_000,
        }
    }

    /// Its length in milliseconds.
    pub fn millis(self) -> i64 {
        self.ms
    }
}

/// A duration that is not a whole number and a unit.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a duration: write a whole number and a unit, s, m, h or d (`30m`, `7d`)")]
pub struct BadDuration(String);

impl FromStr for Duration {
    type Err = BadDuration;

    fn from_str(text: &str) -> Result<Duration, BadDuration> {
        let bad = || BadDuration(text.to_owned());
        let (number, unit) = text.split_at(text.len().saturating_sub(1));
        let scale = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(bad)?;
        let n: i64 = number.parse().map_err(|_| bad())?;
        if n < 0 {
            return Err(bad());
        }
        n.checked_mul(scale)
            .map(|ms| Duration { ms })
            .ok_or_else(bad)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unit, scale) = UNITS
            .iter()
            .find(|(_, scale)| self.ms % scale == 0)
            .copied()
            .unwrap_or(("ms", 1));
        if unit == "ms" {
            return write!(f, "{}ms", self.ms);
        }
        write!(f, "{}{unit}", self.ms / scale)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write_as_a_number_and_a_unit() {
        for (text, ms) in [
            ("90s", 90_000),
            ("30m", 1_800_000),
            ("1h", 3_600_000),
            ("7d", 604_800_000),
        ] {
            let d: Duration = text.parse().unwrap_or_default();
            assert_eq!(d.millis(), ms, "{text}");
            assert_eq!(d.to_string(), text);
        }
        assert_eq!(
            "60m"
                .parse::<Duration>()
                .map(|d| d.to_string())
                .ok()
                .as_deref(),
            Some("1h")
        );
        for bad in ["", "7", "d", "7w", "-1d", "1.5h", "99999999999999999d"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
    }
}
