//! Event times as specs write them, to milliseconds since the Unix epoch: a naive date-time
//! (`2018-04-01 00:00:31`, read as UTC), RFC 3339 with a zone (`2018-04-01T00:00:31+02:00`), or
//! epoch milliseconds. Calendar parts (hour, weekday) of a time, in UTC.

use super::TimeFormat;

/// Milliseconds a day.
pub const DAY_MS: i64 = 86_400_000;

/// The time `text` names in `format`; the error says what is wrong.
pub fn parse(text: &str, format: TimeFormat) -> Result<i64, String> {
    match format {
        TimeFormat::EpochMillis | TimeFormat::PaysimStep => text
            .parse::<i64>()
            .map_err(|_| "is not a whole number".to_owned()),
        TimeFormat::Naive => naive(text, false),
        TimeFormat::Zoned => naive(text, true),
    }
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.fff]`, with a zone (`Z`, `±HH:MM`) required when `zoned`.
fn naive(text: &str, zoned: bool) -> Result<i64, String> {
    let expected = if zoned {
        "is not a date-time with a zone (YYYY-MM-DDTHH:MM:SS+HH:MM or …Z)"
    } else {
        "is not a date-time (YYYY-MM-DD HH:MM:SS)"
    };
    let bad = || expected.to_owned();
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = text.get(range).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(format!("{}: no such day", bad()));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!("{}: no such time of day", bad()));
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let ms: String = fraction[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = ms.parse::<i64>().map_err(|_| bad())?;
        rest = &fraction[digits..];
    }
    let offset_ms = match (zoned, rest) {
        (false, "") => 0,
        (true, "Z") => 0,
        (true, zone)
            if zone.len() == 6 && matches!(&zone[..1], "+" | "-") && &zone[3..4] == ":" =>
        {
            let hours: i64 = zone[1..3].parse().map_err(|_| bad())?;
            let minutes: i64 = zone[4..6].parse().map_err(|_| bad())?;
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (hours * 3_600_000 + minutes * 60_000)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(year, month, day);
    Ok(days * DAY_MS + hour * 3_600_000 + minute * 60_000 + second * 1_000 + millis - offset_ms)
}

/// `ms` written in `format`, as [`parse`] reads it back: `2018-04-01 00:00:31` (naive, UTC),
/// `2018-04-01T00:00:31Z` (zoned), with `.fff` when not a whole second; epoch milliseconds as
/// they are. A PaySim step is not a time of day: `format` gives its milliseconds.
pub fn format(ms: i64, format: TimeFormat) -> String {
    let (separator, zone) = match format {
        TimeFormat::EpochMillis | TimeFormat::PaysimStep => return ms.to_string(),
        TimeFormat::Naive => (' ', ""),
        TimeFormat::Zoned => ('T', "Z"),
    };
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let in_day = ms.rem_euclid(DAY_MS);
    let (h, min, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000,
    );
    let fraction = if milli == 0 {
        String::new()
    } else {
        format!(".{milli:03}")
    };
    format!("{y:04}-{m:02}-{d:02}{separator}{h:02}:{min:02}:{s:02}{fraction}{zone}")
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) of a count of days since 1970-01-01 (H. Hinnant's
/// `civil_from_days`, the inverse of `days_from_civil`).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The hour of day (0–23, UTC) of `ms`.
pub fn hour(ms: i64) -> i64 {
    ms.rem_euclid(DAY_MS) / 3_600_000
}

/// The day of the week (0 = Monday … 6 = Sunday, UTC) of `ms`.
pub fn day_of_week(ms: i64) -> i64 {
    // 1970-01-01 was a Thursday (3).
    (ms.div_euclid(DAY_MS) + 3).rem_euclid(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formatted_time_parses_back() {
        for ms in [
            0,
            1_522_540_831_000,
            1_522_540_831_250,
            1_530_403_199_999,
            86_399_000,
        ] {
            for f in [
                TimeFormat::Naive,
                TimeFormat::Zoned,
                TimeFormat::EpochMillis,
            ] {
                assert_eq!(parse(&format(ms, f), f), Ok(ms), "{ms} {f:?}");
            }
        }
        assert_eq!(
            format(1_522_540_831_000, TimeFormat::Naive),
            "2018-04-01 00:00:31"
        );
        assert_eq!(
            format(1_522_540_831_250, TimeFormat::Zoned),
            "2018-04-01T00:00:31.250Z"
        );
    }

    #[test]
    fn days_and_dates_convert_both_ways() {
        for days in [-719_468, -1, 0, 59, 17_622, 17_713, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(17_622), (2018, 4, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn times_read_as_utc_milliseconds_and_give_their_calendar_parts() {
        let t = parse("2018-04-01 00:00:31", TimeFormat::Naive).unwrap_or_default();
        assert_eq!(t, 1_522_540_831_000);
        assert_eq!(
            parse("2018-04-01T00:00:31.5", TimeFormat::Naive),
            Ok(t + 500)
        );
        assert_eq!(parse("2018-04-01T02:00:31+02:00", TimeFormat::Zoned), Ok(t));
        assert_eq!(parse("2018-04-01T00:00:31Z", TimeFormat::Zoned), Ok(t));
        assert_eq!(parse("1522540831000", TimeFormat::EpochMillis), Ok(t));
        assert_eq!(
            parse("2000-02-29 12:00:00", TimeFormat::Naive),
            Ok(951_825_600_000)
        );
        assert_eq!(
            (hour(t), day_of_week(t)),
            (0, 6),
            "a Sunday, just after midnight"
        );
        assert_eq!(day_of_week(0), 3);
        for bad in [
            "2018-04-01",
            "2018-13-01 00:00:00",
            "2019-02-29 00:00:00",
            "2018-04-01 24:00:00",
            "2018-04-01 00:00:31+02:00",
            "2018/04/01 00:00:31",
            "2018-04-01 0a:00:31",
        ] {
            assert!(parse(bad, TimeFormat::Naive).is_err(), "{bad}");
        }
        assert!(parse("2018-04-01T00:00:31", TimeFormat::Zoned).is_err());
    }
}
