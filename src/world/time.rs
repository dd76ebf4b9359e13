//! Timestamps as Cedar reads them: every time a world, a request or an argument carries (the
//! world's `now`, a key's `expires_at`, `--now`, `--arg expires_at=`, a test file's `now`) is
//! checked here, with the rules of Cedar's `datetime("…")` extension, so that a time keyward
//! accepts is one every policy can compare, and a time Cedar would refuse is bad input at its
//! place instead of a request that silently fails closed.
//!
//! The form is RFC 3339 within Cedar's limits: `YYYY-MM-DDTHH:MM:SS`, optionally `.` and up to
//! three digits (milliseconds, Cedar's precision), then `Z` or an offset `±hh:mm`. Years 0000-9999, also once converted to UTC; hours 00-23, minutes and seconds
//! 00-59 (no leap second `:60`, which Cedar refuses); offsets under 24 hours and minutes under
//! 60. A fraction finer than a millisecond (`.1234`) is refused, never truncated (R13); digits
//! past the third are accepted only when they are zeros (the time is then exact).
//!
//! Every time accepted is also RFC 3339 as chrono reads it (the findings read expiries so), and
//! is given to Cedar in one form, UTC with milliseconds.
//!
//! Owns the rules only. May use: [`crate::world::text`] (to quote a bad value escaped).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

/// A timestamp accepted by [`parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Time {
    /// Milliseconds since the Unix epoch (UTC, no leap seconds), as Cedar counts.
    pub millis: i64,
    /// The same instant in the form given to Cedar's `datetime()`: UTC, milliseconds, `Z`.
    pub cedar: String,
}

/// Why a text is not a timestamp Cedar accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeError(pub String);

const EXAMPLE: &str = "e.g. 2026-11-23T12:00:00Z";

/// Check `s` with Cedar's datetime rules (see the module doc) and give the instant.
pub fn parse(s: &str) -> Result<Time, TimeError> {
    let fail = |why: &str| {
        TimeError(format!(
            "`{}` is not an RFC 3339 timestamp Cedar accepts: {why} ({EXAMPLE})",
            crate::world::text::escape(s)
        ))
    };
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let shape = (|| {
        let ok = at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':');
        ok.then_some(())?;
        Some((
            digits(0, 4)?,
            digits(5, 2)?,
            digits(8, 2)?,
            digits(11, 2)?,
            digits(14, 2)?,
            digits(17, 2)?,
        ))
    })();
    let Some((year, month, day, h, m, sec)) = shape else {
        return Err(fail("expected YYYY-MM-DDTHH:MM:SS then Z or an offset"));
    };
    let date =
        NaiveDate::from_ymd_opt(year as i32, month, day).ok_or_else(|| fail("no such date"))?;
    if sec == 60 {
        return Err(fail("a leap second (:60) is not a time Cedar accepts"));
    }
    let (millis, rest) = fraction(&s[19..]).map_err(|why| fail(&why))?;
    let time = NaiveTime::from_hms_milli_opt(h, m, sec, millis)
        .ok_or_else(|| fail("hours are 00-23, minutes and seconds 00-59"))?;
    let offset = offset_seconds(rest).map_err(|why| fail(&why))?;
    let utc: NaiveDateTime = NaiveDateTime::new(date, time) - TimeDelta::seconds(offset);
    let year_utc = chrono::Datelike::year(&utc);
    if !(0..=9999).contains(&year_utc) {
        return Err(fail(&format!(
            "in UTC it is in year {year_utc}; years are 0000-9999"
        )));
    }
    use chrono::{Datelike, Timelike};
    // Written directly (years are 0000-9999 here): chrono's `format` parses its pattern anew
    // on every call, and every key's expiry and every request's `now` comes through here.
    let cedar = format!(
        "{year_utc:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        utc.month(),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.and_utc().timestamp_subsec_millis()
    );
    Ok(Time {
        millis: utc.and_utc().timestamp_millis(),
        cedar,
    })
}

/// The milliseconds of an optional `.fff` fraction and the text after it.
fn fraction(s: &str) -> Result<(u32, &str), String> {
    let Some(frac) = s.strip_prefix('.') else {
        return Ok((0, s));
    };
    let n = frac.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return Err("a `.` must be followed by digits".into());
    }
    let (digits, rest) = frac.split_at(n);
    if digits.bytes().skip(3).any(|d| d != b'0') {
        return Err(format!(
            "`.{digits}` is finer than a millisecond; Cedar and keyward keep times to the millisecond, so write at most 3 fractional digits (it is not truncated)"
        ));
    }
    let ms = digits
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'));
    Ok((ms, rest))
}

/// The offset from UTC, in seconds, of `Z` or `±hh:mm` (nothing may follow it).
fn offset_seconds(s: &str) -> Result<i64, String> {
    if s == "Z" {
        return Ok(0);
    }
    let sign = match s.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err("expected Z or an offset (+hh:mm) after the time".into()),
    };
    let hhmm: String = match s.len() {
        6 if s.as_bytes()[3] == b':' => format!("{}{}", &s[1..3], &s[4..6]),
        _ => return Err(format!("`{s}` is not an offset: expected +hh:mm or -hh:mm")),
    };
    if !hhmm.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{s}` is not an offset: expected +hh:mm or -hh:mm"));
    }
    let (hh, mm): (i64, i64) = (
        hhmm[..2].parse().unwrap_or(99),
        hhmm[2..].parse().unwrap_or(99),
    );
    if hh >= 24 || mm >= 60 {
        return Err(format!(
            "offset `{s}` is out of range: hours under 24, minutes under 60"
        ));
    }
    Ok(sign * (hh * 3600 + mm * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cedar_form_is_chronos_over_every_year() {
        // Instants spread from 0000 to 9999, each written with an offset, against chrono's
        // own formatting of the same UTC instant.
        let first = -62_167_219_200_000_i64; // 0000-01-01T00:00:00Z
        let span = 315_537_897_599_999_i64; // to 9999-12-31T23:59:59.999Z
        for i in 0..20_000_i64 {
            let ms = first + span / 20_000 * i + i * 7_919 % 1000;
            let utc = chrono::DateTime::from_timestamp_millis(ms).expect("in range");
            let local = utc.with_timezone(&chrono::FixedOffset::east_opt(-5400).expect("offset"));
            let input = local.format("%Y-%m-%dT%H:%M:%S%.3f-01:30").to_string();
            let expected = utc.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            match parse(&input) {
                Ok(t) => {
                    assert_eq!(t.cedar, expected, "{input}");
                    assert_eq!(t.millis, ms, "{input}");
                }
                // Only where the local time falls before year 0000 is it refused.
                Err(e) => assert!(
                    local.format("%Y").to_string().starts_with('-'),
                    "{input}: {e}"
                ),
            }
        }
    }

    #[test]
    fn accepted_forms_and_their_instant() {
        let t = parse("2027-05-31T23:59:59+02:00").unwrap();
        assert_eq!(t.cedar, "2027-05-31T21:59:59.000Z");
        assert_eq!(
            parse("2027-05-31T21:59:59.5Z").unwrap().cedar,
            "2027-05-31T21:59:59.500Z"
        );
        assert_eq!(parse("2027-05-31T21:59:59-00:00").unwrap(), t);
        assert_eq!(
            parse("2027-01-01T00:00:00.123000Z").unwrap().millis % 1000,
            123
        );
        assert_eq!(
            parse("0000-01-01T00:00:00Z").unwrap().cedar,
            "0000-01-01T00:00:00.000Z"
        );
        assert!(parse("9999-12-31T23:59:59.999Z").is_ok());
    }

    #[test]
    fn refused_classes() {
        for (s, why) in [
            ("2016-12-31T23:59:60Z", "leap second"),
            ("10000-01-01T00:00:00Z", "expected YYYY"),
            ("9999-12-31T23:00:00-05:00", "year 10000"),
            ("0000-01-01T00:00:00+01:00", "year -1"),
            ("2027-01-01T00:00:00.1234Z", "finer than a millisecond"),
            ("2027-01-01T00:00:00+24:00", "out of range"),
            ("2027-01-01T00:00:00+01:60", "out of range"),
            ("2027-01-01T00:00:00+1:00", "not an offset"),
            ("2027-01-01T00:00:00+0100", "not an offset"),
            ("2027-01-01T00:00:00+01:0é", "not an offset"),
            ("2027-01-01T00:00:00", "expected Z"),
            ("2027-02-29T00:00:00Z", "no such date"),
            ("2027-01-01T24:00:00Z", "hours are"),
            ("2027-01-01t00:00:00z", "expected YYYY"),
            ("2027-01-01T00:00:00.Z", "followed by digits"),
            ("tomorrow", "expected YYYY"),
            ("2027-01-01T00:00:00Z\n", "expected Z"),
        ] {
            let e = parse(s).unwrap_err().to_string();
            assert!(e.contains(why), "{s:?}: {e}");
            assert!(!e.contains('\n'), "{s:?}: {e}");
        }
    }
}
