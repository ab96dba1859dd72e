//! Per-name variables of the limits: `BULKHEAD_<NAME>_<KEY>` and `RATE_LIMIT_<NAME>_<KEY>`.

use super::*;

/// The prefix of a bulkhead's variables.
const BULKHEAD_PREFIX: &str = "BULKHEAD_";
/// The prefix of a rate limiter's variables.
const RATE_LIMIT_PREFIX: &str = "RATE_LIMIT_";

/// The largest accepted rate, in tokens per period: one a nanosecond over a second and more.
pub const MAX_RATE: u64 = 1_000_000_000_000;

/// A variable of one bulkhead or rate limiter, `BULKHEAD_<NAME>_<KEY>` or
/// `RATE_LIMIT_<NAME>_<KEY>`, the name upper-cased as for breakers: the bulkhead `zoho_org`
/// reads `BULKHEAD_ZOHO_ORG_MAX_CONCURRENT`.
///
/// | variable | setting | accepted values |
/// |---|---|---|
/// | `BULKHEAD_<NAME>_MAX_CONCURRENT` | `max_concurrent` | whole number, 1 to [`MAX_CONCURRENT`](crate::limit::MAX_CONCURRENT) |
/// | `BULKHEAD_<NAME>_MAX_WAIT` | `max_wait` | duration, zero allowed |
/// | `RATE_LIMIT_<NAME>_RATE` | `rate` | whole number, 1 to [`MAX_RATE`] |
/// | `RATE_LIMIT_<NAME>_PER` | `per` | duration, greater than zero |
/// | `RATE_LIMIT_<NAME>_BURST` | `burst` | whole number, 1 to [`MAX_BURST`](crate::limit::MAX_BURST) |
/// | `RATE_LIMIT_<NAME>_MAX_WAIT` | `max_wait` | duration, zero allowed |
///
/// A variable beats the value written in code. A value that does not parse is an error naming
/// the variable and the value ([`init`] returns it; a builder logs it and ignores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// `BULKHEAD_<NAME>_MAX_CONCURRENT`.
    BulkheadMaxConcurrent,
    /// `BULKHEAD_<NAME>_MAX_WAIT`.
    BulkheadMaxWait,
    /// `RATE_LIMIT_<NAME>_RATE`.
    Rate,
    /// `RATE_LIMIT_<NAME>_PER`.
    Per,
    /// `RATE_LIMIT_<NAME>_BURST`.
    Burst,
    /// `RATE_LIMIT_<NAME>_MAX_WAIT`.
    RateLimitMaxWait,
}

impl LimitKey {
    /// Every key, a bulkhead's first.
    pub const ALL: [LimitKey; 6] = [
        LimitKey::BulkheadMaxConcurrent,
        LimitKey::BulkheadMaxWait,
        LimitKey::Rate,
        LimitKey::Per,
        LimitKey::Burst,
        LimitKey::RateLimitMaxWait,
    ];

    /// `BULKHEAD_` or `RATE_LIMIT_`.
    pub fn prefix(self) -> &'static str {
        match self {
            LimitKey::BulkheadMaxConcurrent | LimitKey::BulkheadMaxWait => BULKHEAD_PREFIX,
            _ => RATE_LIMIT_PREFIX,
        }
    }

    /// The end of the variable's name: `MAX_CONCURRENT`, `MAX_WAIT`, `RATE`, `PER` or `BURST`.
    pub fn suffix(self) -> &'static str {
        match self {
            LimitKey::BulkheadMaxConcurrent => "MAX_CONCURRENT",
            LimitKey::BulkheadMaxWait | LimitKey::RateLimitMaxWait => "MAX_WAIT",
            LimitKey::Rate => "RATE",
            LimitKey::Per => "PER",
            LimitKey::Burst => "BURST",
        }
    }

    /// The setting written in code that the variable overrides, as the builder method and the
    /// attribute key spell it.
    pub fn setting(self) -> &'static str {
        match self {
            LimitKey::BulkheadMaxConcurrent => "max_concurrent",
            LimitKey::BulkheadMaxWait | LimitKey::RateLimitMaxWait => "max_wait",
            LimitKey::Rate => "rate",
            LimitKey::Per => "per",
            LimitKey::Burst => "burst",
        }
    }

    /// The variable of the bulkhead or rate limiter `name`.
    ///
    /// ```
    /// use resilience::config::LimitKey;
    ///
    /// assert_eq!(LimitKey::Burst.var("zoho_credits"), "RATE_LIMIT_ZOHO_CREDITS_BURST");
    /// ```
    pub fn var(self, name: &str) -> String {
        format!("{}{}_{}", self.prefix(), env_name(name), self.suffix())
    }

    /// Checks a value for this key.
    pub(super) fn check(self, text: &str) -> Result<(), String> {
        match self {
            LimitKey::BulkheadMaxConcurrent => parse_max_concurrent(text).map(drop),
            LimitKey::BulkheadMaxWait | LimitKey::RateLimitMaxWait => {
                parse_duration(text).map(drop)
            }
            LimitKey::Rate => parse_rate(text).map(drop),
            LimitKey::Per => parse_positive_duration(text).map(drop),
            LimitKey::Burst => parse_burst(text).map(drop),
        }
    }

    /// Splits a variable into the name and key of a limit; `None` for anything else.
    pub(super) fn parse_var(variable: &str) -> Option<(&str, LimitKey)> {
        LimitKey::ALL.into_iter().find_map(|key| {
            let rest = variable.strip_prefix(key.prefix())?;
            let name = rest.strip_suffix(key.suffix())?.strip_suffix('_')?;
            (!name.is_empty()).then_some((name, key))
        })
    }
}

pub(super) fn parse_max_concurrent(text: &str) -> Result<u32, String> {
    parse_count(text, crate::limit::MAX_CONCURRENT)
}

pub(super) fn parse_burst(text: &str) -> Result<u32, String> {
    parse_count(text, crate::limit::MAX_BURST)
}

pub(super) fn parse_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a whole number".to_owned());
    }
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) if n <= MAX_RATE => Ok(n),
        _ => Err(format!("too large; at most {MAX_RATE}")),
    }
}

/// The values of one bulkhead's variables; `None` where unset or bad (the error is kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BulkheadVars {
    pub(crate) max_concurrent: Option<u32>,
    pub(crate) max_wait: Option<Duration>,
}

impl BulkheadVars {
    pub(crate) fn read(name: &str, env: Env<'_>) -> (Self, Vec<ConfigError>) {
        let lookup = |variable: &str| env.raw(variable);
        let mut reader = Reader::new(&lookup);
        let vars = BulkheadVars {
            max_concurrent: reader.read(
                &LimitKey::BulkheadMaxConcurrent.var(name),
                parse_max_concurrent,
            ),
            max_wait: reader.read(&LimitKey::BulkheadMaxWait.var(name), parse_duration),
        };
        (vars, reader.errors)
    }
}

/// The values of one rate limiter's variables; `None` where unset or bad (the error is kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RateLimitVars {
    pub(crate) rate: Option<u64>,
    pub(crate) per: Option<Duration>,
    pub(crate) burst: Option<u32>,
    pub(crate) max_wait: Option<Duration>,
}

impl RateLimitVars {
    pub(crate) fn read(name: &str, env: Env<'_>) -> (Self, Vec<ConfigError>) {
        let lookup = |variable: &str| env.raw(variable);
        let mut reader = Reader::new(&lookup);
        let vars = RateLimitVars {
            rate: reader.read(&LimitKey::Rate.var(name), parse_rate),
            per: reader.read(&LimitKey::Per.var(name), parse_positive_duration),
            burst: reader.read(&LimitKey::Burst.var(name), parse_burst),
            max_wait: reader.read(&LimitKey::RateLimitMaxWait.var(name), parse_duration),
        };
        (vars, reader.errors)
    }
}
