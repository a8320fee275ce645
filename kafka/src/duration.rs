//! Durations on the command line, every one with its unit, as the `humantime` crate reads them:
//! `500ms`, `30s`, `5m`, `2h`, `1d`, or several parts (`1h 30m`). A bare number is refused with
//! one line, since nobody reading `--state-ttl 86400` can tell seconds from milliseconds; `0`
//! alone is the one exception (it is zero in every unit).
//!
//! The value parsers return whole seconds or whole milliseconds, the unit the flag's field names
//! (`shutdown_timeout_secs`, `batch_linger_ms`), each within the bounds the flag allows.

use std::time::Duration;

/// Reads a duration with its unit; the error is one line saying what to write.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.parse::<f64>().is_ok() && text.parse::<u64>() != Ok(0) {
        return Err(format!(
            "`{text}` has no unit: write it with one, e.g. `{text}s` or `{text}ms` (also m, h, d)"
        ));
    }
    humantime::parse_duration(text).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write e.g. `30s`, `500ms`, `5m`, `1d`")
    })
}

/// A duration as humantime writes it (`1d`, `1m 30s`, `250ms`): how help and logs show one.
pub fn show(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// A value parser of a duration in whole seconds, within `[min, max]` seconds.
pub fn secs(min: u64, max: u64) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync {
    move |text| {
        let duration = parse(text)?;
        if duration.subsec_nanos() != 0 {
            return Err(format!(
                "`{text}` is not a whole number of seconds (this setting counts in seconds)"
            ));
        }
        within(duration.as_secs(), min, max, Duration::from_secs)
    }
}

/// A value parser of a duration in whole milliseconds, within `[min, max]` milliseconds.
pub fn millis(min: u64, max: u64) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync {
    move |text| {
        let duration = parse(text)?;
        if duration.subsec_nanos() % 1_000_000 != 0 {
            return Err(format!(
                "`{text}` is not a whole number of milliseconds (this setting counts in milliseconds)"
            ));
        }
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        within(ms, min, max, Duration::from_millis)
    }
}

/// A value parser of any duration of at least `min` (a `Duration` field).
pub fn at_least(min: Duration) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync {
    move |text| {
        let duration = parse(text)?;
        if duration < min {
            return Err(format!("must be at least {}", show(min)));
        }
        Ok(duration)
    }
}

/// A value parser of a duration as fractional seconds (a measurement's length, for arithmetic).
pub fn secs_f64(text: &str) -> Result<f64, String> {
    parse(text).map(|d| d.as_secs_f64())
}

/// `value` if it lies in `[min, max]`, else an error naming the bounds as durations.
fn within(value: u64, min: u64, max: u64, unit: fn(u64) -> Duration) -> Result<u64, String> {
    if value < min || value > max {
        let bound = if value < min {
            format!("at least {}", show(unit(min)))
        } else {
            format!("at most {}", show(unit(max)))
        };
        return Err(format!("must be {bound}"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_read_and_a_bare_number_is_refused() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        let err = parse("86400").unwrap_err();
        assert_eq!(
            err,
            "`86400` has no unit: write it with one, e.g. `86400s` or `86400ms` (also m, h, d)"
        );
        assert!(parse("1.5").unwrap_err().contains("has no unit"));
        assert!(parse("soon")
            .unwrap_err()
            .starts_with("`soon` is not a duration"));
    }

    #[test]
    fn seconds_and_milliseconds_are_whole_and_bounded() {
        let secs = secs(1, 3_600);
        assert_eq!(secs("1m"), Ok(60));
        assert_eq!(secs("1h"), Ok(3_600));
        assert_eq!(secs("2h").unwrap_err(), "must be at most 1h");
        assert_eq!(secs("0").unwrap_err(), "must be at least 1s");
        assert!(secs("1500ms")
            .unwrap_err()
            .contains("whole number of seconds"));
        let millis = millis(0, 60_000);
        assert_eq!(millis("2ms"), Ok(2));
        assert_eq!(millis("1s"), Ok(1_000));
        assert_eq!(millis("0"), Ok(0));
        assert!(millis("10us")
            .unwrap_err()
            .contains("whole number of milliseconds"));
        assert_eq!(millis("2m").unwrap_err(), "must be at most 1m");
    }

    #[test]
    fn at_least_bounds_a_duration() {
        let parse = at_least(Duration::from_millis(1));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("0").unwrap_err(), "must be at least 1ms");
    }
}
