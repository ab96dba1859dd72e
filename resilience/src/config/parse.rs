//! Parsing of the values: whole numbers, durations, numbers and booleans.

use super::*;

pub(super) const DURATION_FORMATS: &str =
    r#"a number of seconds ("60", "1.5") or a number with a unit ("500ms", "2m", "1m 30s")"#;

/// Parses a duration.
///
/// Accepts a plain non-negative number of seconds (`"60"`, `"1.5"`, `"0.25"`, with at most nine
/// decimal places) or a number with a unit as [`humantime::parse_duration`] accepts it
/// (`"500ms"`, `"2m"`, `"1m 30s"`, `"60s"`; units `ns`, `us`, `ms`, `s`, `m`, `h`, `d`, `w` and
/// their long forms). Surrounding whitespace is ignored. The result is at most
/// [`MAX_DURATION`].
///
/// The error is the reason, saying what would work: an empty value, a negative one, something
/// that is not a number, an unknown unit, NaN or infinity, or a value above [`MAX_DURATION`].
///
/// ```
/// use resilience::config::parse_duration;
/// use std::time::Duration;
///
/// assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
/// assert_eq!(parse_duration(" 0.25 "), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("-1"), Err("must not be negative".to_owned()));
/// assert!(parse_duration("10 parsecs").unwrap_err().starts_with("unknown unit \"parsecs\""));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("empty value; expected {DURATION_FORMATS}"));
    }
    let duration = match parse_plain_seconds(text) {
        Some(parsed) => parsed?,
        None => parse_with_unit(text)?,
    };
    if duration > MAX_DURATION {
        return Err(too_long());
    }
    Ok(duration)
}

pub(super) fn too_long() -> String {
    format!(
        "too large; at most 365 days ({} seconds)",
        MAX_DURATION.as_secs()
    )
}

/// Parses `digits[.digits]` (either part may be missing, not both) exactly, to the nanosecond.
/// `None` when `text` does not have that shape.
pub(super) fn parse_plain_seconds(text: &str) -> Option<Result<Duration, String>> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    let secs = if int.is_empty() {
        0
    } else {
        match int.parse::<u64>() {
            Ok(secs) => secs,
            Err(_) => return Some(Err(too_long())),
        }
    };
    let frac = frac.trim_end_matches('0');
    if frac.len() > 9 {
        return Some(Err(
            "finer than a nanosecond; use at most 9 decimal places".to_owned()
        ));
    }
    let mut nanos: u32 = 0;
    for b in frac.bytes() {
        nanos = nanos * 10 + u32::from(b - b'0');
    }
    // `frac` has at most 9 digits, so this stays below 10^9.
    nanos *= 10u32.pow(9 - frac.len() as u32);
    Some(Ok(Duration::new(secs, nanos)))
}

/// Everything that is not a plain number of seconds.
pub(super) fn parse_with_unit(text: &str) -> Result<Duration, String> {
    let after_sign = text.strip_prefix('-');
    if after_sign.is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '.')) {
        return Err("must not be negative".to_owned());
    }
    // Numbers that Rust reads but humantime does not: NaN, infinities, exponents, a '+' sign.
    if let Ok(number) = text.parse::<f64>() {
        return Err(if number.is_finite() {
            format!("expected {DURATION_FORMATS}")
        } else {
            format!("must be a finite number; expected {DURATION_FORMATS}")
        });
    }
    humantime::parse_duration(text).map_err(|e| match e {
        humantime::DurationError::UnknownUnit { unit, .. } if !unit.is_empty() => {
            format!(r#"unknown unit {unit:?}; use ms, s, m, h or d, as in "500ms" or "2m""#)
        }
        humantime::DurationError::NumberOverflow => format!(
            "too large (at most 365 days) or finer than a nanosecond; expected {DURATION_FORMATS}"
        ),
        _ => format!("expected {DURATION_FORMATS}"),
    })
}

/// A duration that must be greater than zero.
pub(super) fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("must be greater than zero".to_owned());
    }
    Ok(duration)
}

/// A whole number from 1 to `max`.
pub(super) fn parse_count(text: &str, max: u32) -> Result<u32, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty value; expected a whole number".to_owned());
    }
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if text.strip_prefix('-').is_some_and(all_digits) {
        return Err("must be at least 1".to_owned());
    }
    if !all_digits(text) {
        return Err("expected a whole number".to_owned());
    }
    match text.parse::<u32>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) if n <= max => Ok(n),
        // Only ASCII digits are left: the one possible parse error is an overflow.
        _ => Err(format!("too large; at most {max}")),
    }
}

pub(super) fn parse_failure_threshold(text: &str) -> Result<u32, String> {
    parse_count(text, MAX_FAILURE_THRESHOLD)
}

pub(super) fn parse_half_open_calls(text: &str) -> Result<u32, String> {
    parse_count(text, MAX_HALF_OPEN_CALLS)
}

pub(super) fn parse_success_threshold(text: &str) -> Result<u32, String> {
    parse_count(text, MAX_HALF_OPEN_CALLS)
}

pub(super) fn parse_max_attempts(text: &str) -> Result<u32, String> {
    parse_count(text, MAX_RETRY_ATTEMPTS)
}

pub(super) fn parse_exponential_base(text: &str) -> Result<f64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty value; expected a number such as 2.0".to_owned());
    }
    let base: f64 = text
        .parse()
        .map_err(|_| "expected a number such as 2.0".to_owned())?;
    if !base.is_finite() {
        return Err("must be a finite number such as 2.0".to_owned());
    }
    if base < 1.0 {
        return Err("must be at least 1.0 (a base below 1 would shrink the delays)".to_owned());
    }
    Ok(base)
}

pub(super) fn parse_bool(text: &str) -> Result<bool, String> {
    const EXPECTED: &str = "expected true or false (or 1/0, yes/no, on/off)";
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("empty value; {EXPECTED}"));
    }
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(EXPECTED.to_owned()),
    }
}
