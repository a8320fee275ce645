//! The event time a command works on: `--fit-from D --fit-until D` and `--from D --until D`,
//! where D is `YYYY-MM-DD` (midnight UTC) or a full timestamp, and the end is exclusive — so
//! `--fit-from 2018-07-04 --fit-until 2018-07-11` is 7 days.

use aegis_core::model::Period;
use aegis_core::spec::time;
use aegis_core::spec::TimeFormat;
use anyhow::{bail, Result};

/// Milliseconds since the Unix epoch of a date (`YYYY-MM-DD`, midnight UTC) or a timestamp
/// (`YYYY-MM-DD HH:MM:SS`, read as UTC, or RFC 3339 with a zone).
pub fn parse_instant(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.len() == 10 {
        return time::parse(&format!("{text} 00:00:00"), TimeFormat::Naive)
            .map_err(|_| format!("{text:?} is not a date (YYYY-MM-DD)"));
    }
    time::parse(text, TimeFormat::Naive)
        .or_else(|_| time::parse(text, TimeFormat::Zoned))
        .map_err(|_| {
            format!("{text:?} is not a date (YYYY-MM-DD) or a timestamp (YYYY-MM-DD HH:MM:SS)")
        })
}

/// The period two flags give (both or neither); `names` are the flags, for messages.
pub fn from_flags(
    from: Option<&str>,
    until: Option<&str>,
    names: [&str; 2],
) -> Result<Option<Period>> {
    let [from_flag, until_flag] = names;
    let (from, until) = match (from, until) {
        (None, None) => return Ok(None),
        (Some(from), Some(until)) => (from, until),
        (Some(_), None) => bail!("{from_flag} needs {until_flag} (the end, exclusive)"),
        (None, Some(_)) => bail!("{until_flag} needs {from_flag} (the start)"),
    };
    let from_ms = parse_instant(from).map_err(|e| anyhow::anyhow!("{from_flag}: {e}"))?;
    let until_ms = parse_instant(until).map_err(|e| anyhow::anyhow!("{until_flag}: {e}"))?;
    if until_ms <= from_ms {
        bail!("{until_flag} {until} is not after {from_flag} {from} (the end is exclusive)");
    }
    Ok(Some(Period { from_ms, until_ms }))
}

/// A period as people read it: `2018-07-04 to 2018-07-11 (exclusive)`, with times when they
/// are not midnight.
pub fn describe(period: &Period) -> String {
    format!(
        "{} to {} (exclusive)",
        instant(period.from_ms),
        instant(period.until_ms)
    )
}

/// `YYYY-MM-DD`, or `YYYY-MM-DD HH:MM:SS` when not midnight (UTC).
pub fn instant(ms: i64) -> String {
    let mut text = time::format(ms.div_euclid(1_000) * 1_000, TimeFormat::Naive);
    if ms.rem_euclid(time::DAY_MS) < 1_000 {
        text.truncate("YYYY-MM-DD".len());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_of_dates_is_seven_days_and_prints_back() {
        let p = from_flags(Some("2018-07-04"), Some("2018-07-11"), ["--a", "--b"])
            .unwrap()
            .unwrap();
        assert_eq!(p.until_ms - p.from_ms, 7 * 86_400_000);
        assert_eq!(describe(&p), "2018-07-04 to 2018-07-11 (exclusive)");
        assert_eq!(instant(p.from_ms + 3_723_000), "2018-07-04 01:02:03");
        assert_eq!(
            parse_instant("2018-07-04 01:02:03").unwrap(),
            p.from_ms + 3_723_000
        );
    }

    #[test]
    fn bad_flags_say_which_and_why() {
        let err = |from, until| {
            from_flags(from, until, ["--fit-from", "--fit-until"])
                .unwrap_err()
                .to_string()
        };
        assert!(err(Some("2018-07-04"), None).contains("--fit-from needs --fit-until"));
        assert!(err(Some("2018-13-04"), Some("2018-07-11")).starts_with("--fit-from: "));
        assert!(err(Some("2018-07-11"), Some("2018-07-11")).contains("is not after"));
        assert!(err(Some("July"), Some("2018-07-11")).contains("is not a date"));
    }
}
