//! Defaults from the environment.
//!
//! The variables are those of the *Circuit Breaker Pattern Guide*. None is required: each one
//! replaces a built-in default for the whole process.
//!
//! | Variable | Setting | Built-in default | Accepted values |
//! |---|---|---|---|
//! | `CIRCUIT_BREAKER_FAILURE_THRESHOLD` | [`BreakerSettings::failure_threshold`] | `5` | whole number, 1 to [`MAX_FAILURE_THRESHOLD`] |
//! | `CIRCUIT_BREAKER_RECOVERY_TIMEOUT` | [`BreakerSettings::recovery_timeout`] | 60 s | duration, greater than zero |
//! | `CIRCUIT_BREAKER_HALF_OPEN_CALLS` | [`BreakerSettings::half_open_max_calls`] | `3` | whole number, 1 to [`MAX_HALF_OPEN_CALLS`] |
//! | `CIRCUIT_BREAKER_SUCCESS_THRESHOLD` | [`BreakerSettings::success_threshold`] | `2` | whole number, 1 to [`MAX_HALF_OPEN_CALLS`] |
//! | `MAX_RETRY_ATTEMPTS` | [`RetrySettings::max_attempts`] | `3` | whole number, 1 to [`MAX_RETRY_ATTEMPTS`] |
//! | `RETRY_BASE_DELAY` | [`RetrySettings::base_delay`] | 1 s | duration, zero allowed |
//! | `RETRY_MAX_DELAY` | [`RetrySettings::max_delay`] | 60 s | duration, zero allowed |
//! | `RETRY_EXPONENTIAL_BASE` | [`RetrySettings::exponential_base`] | `2.0` | finite number, at least `1.0` |
//! | `RETRY_JITTER_ENABLED` | [`RetrySettings::jitter`] | `true` | `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` |
//! | `HEALTH_CHECK_INTERVAL` | [`HealthSettings::check_interval`] | 30 s | duration, greater than zero |
//!
//! The four circuit breaker variables also exist per breaker, as
//! `CIRCUIT_BREAKER_<NAME>_<KEY>`: `<NAME>` is the breaker's name upper-cased (ASCII) and `<KEY>`
//! one of `FAILURE_THRESHOLD`, `RECOVERY_TIMEOUT`, `HALF_OPEN_CALLS` and `SUCCESS_THRESHOLD`
//! (see [`BreakerKey`]). The breaker `tier1_mcp` reads, for instance,
//! `CIRCUIT_BREAKER_TIER1_MCP_RECOVERY_TIMEOUT`. A per-breaker value follows the same rules as
//! the global one ([`BreakerOverrides`]).
//!
//! # Formats
//!
//! Surrounding whitespace is ignored everywhere.
//!
//! - **Whole numbers**: ASCII digits only (`5`, ` 7 `); no sign, no decimal point, no exponent.
//! - **Durations** ([`parse_duration`]): a plain number of seconds (`60`, `1.5`, `0.25`) or a
//!   number with a unit as [`humantime`] accepts it (`500ms`, `2m`, `1m 30s`, `60s`, `1h`, `7d`).
//!   Never negative, never more than [`MAX_DURATION`] (365 days).
//! - **`RETRY_EXPONENTIAL_BASE`**: a decimal number (`2`, `1.5`).
//! - **`RETRY_JITTER_ENABLED`**: `true`, `false`, `1`, `0`, `yes`, `no`, `on` or `off`, in any
//!   case.
//!
//! # Precedence
//!
//! From highest to lowest: the per-breaker variable `CIRCUIT_BREAKER_<NAME>_<KEY>`, the value
//! written in code (builder or attribute), the global variable, the built-in default. This module
//! only reads and parses the variables; the breaker builder applies the precedence. Rules that
//! tie two settings together (`base_delay <= max_delay`,
//! `success_threshold <= half_open_max_calls`) are checked by the builders too, on the resolved
//! values.
//!
//! # Errors
//!
//! A variable that is set but whose value cannot work is an error,
//! [`ConfigError::InvalidEnv`], naming the variable and the value and saying what would work.
//! [`init`] returns it, for a service that wants to fail fast at start. Lazy use through
//! [`settings`] logs it once, at error level, and keeps the built-in default for that variable.
//!
//! ```
//! use std::time::Duration;
//! use resilience::config::Settings;
//!
//! let settings = Settings::from_lookup(|name| match name {
//!     "CIRCUIT_BREAKER_RECOVERY_TIMEOUT" => Some("2m".to_owned()),
//!     "RETRY_JITTER_ENABLED" => Some("off".to_owned()),
//!     _ => None,
//! })
//! .unwrap();
//! assert_eq!(settings.breaker.recovery_timeout, Duration::from_secs(120));
//! assert!(!settings.retry.jitter);
//! assert_eq!(settings.breaker.failure_threshold, 5); // built-in default
//!
//! let err = Settings::from_lookup(|name| {
//!     (name == "CIRCUIT_BREAKER_FAILURE_THRESHOLD").then(|| "0".to_owned())
//! })
//! .unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#"invalid environment variable CIRCUIT_BREAKER_FAILURE_THRESHOLD="0": must be at least 1"#
//! );
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::LazyLock;
use std::time::Duration;

use crate::error::ConfigError;

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/// The largest accepted failure threshold (consecutive failures before a breaker opens).
pub const MAX_FAILURE_THRESHOLD: u32 = 1_000_000;

/// The largest accepted number of half-open probe calls; also the largest success threshold.
pub const MAX_HALF_OPEN_CALLS: u32 = 10_000;

/// The largest accepted size of a breaker's sliding window of recent calls.
pub const MAX_WINDOW_SIZE: u32 = 10_000;

/// The longest accepted duration, for any duration setting: 365 days.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The largest accepted number of attempts of a retried operation, the first call included.
pub const MAX_RETRY_ATTEMPTS: u32 = 1_000;

// ---------------------------------------------------------------------------------------------
// Variable names
// ---------------------------------------------------------------------------------------------

/// Failures in a row before a circuit breaker opens (whole number, default `5`).
pub const CIRCUIT_BREAKER_FAILURE_THRESHOLD: &str = "CIRCUIT_BREAKER_FAILURE_THRESHOLD";
/// How long an open breaker waits before letting a probe through (duration, default 60 s).
pub const CIRCUIT_BREAKER_RECOVERY_TIMEOUT: &str = "CIRCUIT_BREAKER_RECOVERY_TIMEOUT";
/// How many probe calls a half-open breaker lets through at once (whole number, default `3`).
pub const CIRCUIT_BREAKER_HALF_OPEN_CALLS: &str = "CIRCUIT_BREAKER_HALF_OPEN_CALLS";
/// Successful probes needed to close a half-open breaker (whole number, default `2`).
pub const CIRCUIT_BREAKER_SUCCESS_THRESHOLD: &str = "CIRCUIT_BREAKER_SUCCESS_THRESHOLD";
/// Attempts of a retried operation, the first call included (whole number, default `3`).
///
/// Named `_VAR` because [`MAX_RETRY_ATTEMPTS`] is the limit on its value.
pub const MAX_RETRY_ATTEMPTS_VAR: &str = "MAX_RETRY_ATTEMPTS";
/// Delay before the first retry (duration, default 1 s).
pub const RETRY_BASE_DELAY: &str = "RETRY_BASE_DELAY";
/// Longest delay between two attempts (duration, default 60 s).
pub const RETRY_MAX_DELAY: &str = "RETRY_MAX_DELAY";
/// Factor by which the delay grows after each attempt (number, default `2.0`).
pub const RETRY_EXPONENTIAL_BASE: &str = "RETRY_EXPONENTIAL_BASE";
/// Whether retry delays are randomized (boolean, default `true`).
pub const RETRY_JITTER_ENABLED: &str = "RETRY_JITTER_ENABLED";
/// Time between two health checks (duration, default 30 s).
pub const HEALTH_CHECK_INTERVAL: &str = "HEALTH_CHECK_INTERVAL";

/// The prefix of every circuit breaker variable, global or per breaker.
const BREAKER_PREFIX: &str = "CIRCUIT_BREAKER_";

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/// Circuit breaker defaults, from the global `CIRCUIT_BREAKER_*` variables.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    /// Failures in a row before the breaker opens (`CIRCUIT_BREAKER_FAILURE_THRESHOLD`).
    pub failure_threshold: u32,
    /// How long the breaker stays open before a probe (`CIRCUIT_BREAKER_RECOVERY_TIMEOUT`).
    pub recovery_timeout: Duration,
    /// Probe calls let through at once when half-open (`CIRCUIT_BREAKER_HALF_OPEN_CALLS`).
    pub half_open_max_calls: u32,
    /// Successful probes that close the breaker (`CIRCUIT_BREAKER_SUCCESS_THRESHOLD`).
    pub success_threshold: u32,
}

impl BreakerSettings {
    /// The built-in defaults: 5 failures, 60 s recovery timeout, 3 probe calls, 2 successes.
    pub const BUILT_IN: BreakerSettings = BreakerSettings {
        failure_threshold: 5,
        recovery_timeout: Duration::from_secs(60),
        half_open_max_calls: 3,
        success_threshold: 2,
    };
}

impl Default for BreakerSettings {
    /// [`BreakerSettings::BUILT_IN`].
    fn default() -> Self {
        Self::BUILT_IN
    }
}

/// Retry defaults, from the `MAX_RETRY_ATTEMPTS` and `RETRY_*` variables.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySettings {
    /// Attempts, the first call included (`MAX_RETRY_ATTEMPTS`).
    pub max_attempts: u32,
    /// Delay before the first retry (`RETRY_BASE_DELAY`).
    pub base_delay: Duration,
    /// Longest delay between two attempts (`RETRY_MAX_DELAY`).
    pub max_delay: Duration,
    /// Factor by which the delay grows after each attempt (`RETRY_EXPONENTIAL_BASE`).
    pub exponential_base: f64,
    /// Whether delays are randomized (`RETRY_JITTER_ENABLED`).
    pub jitter: bool,
}

impl RetrySettings {
    /// The built-in defaults: 3 attempts, 1 s base delay, 60 s maximum delay, base 2.0, jitter on.
    pub const BUILT_IN: RetrySettings = RetrySettings {
        max_attempts: 3,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(60),
        exponential_base: 2.0,
        jitter: true,
    };
}

impl Default for RetrySettings {
    /// [`RetrySettings::BUILT_IN`].
    fn default() -> Self {
        Self::BUILT_IN
    }
}

/// Health monitoring defaults, from `HEALTH_CHECK_INTERVAL`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthSettings {
    /// Time between two health checks (`HEALTH_CHECK_INTERVAL`).
    pub check_interval: Duration,
}

impl HealthSettings {
    /// The built-in default: a check every 30 s.
    pub const BUILT_IN: HealthSettings = HealthSettings {
        check_interval: Duration::from_secs(30),
    };
}

impl Default for HealthSettings {
    /// [`HealthSettings::BUILT_IN`].
    fn default() -> Self {
        Self::BUILT_IN
    }
}

/// Every process-wide default: the global variables, or the built-in value where unset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Circuit breaker defaults.
    pub breaker: BreakerSettings,
    /// Retry defaults.
    pub retry: RetrySettings,
    /// Health monitoring defaults.
    pub health: HealthSettings,
}

impl Settings {
    /// The built-in defaults of every setting, as if no variable were set.
    pub const BUILT_IN: Settings = Settings {
        breaker: BreakerSettings::BUILT_IN,
        retry: RetrySettings::BUILT_IN,
        health: HealthSettings::BUILT_IN,
    };

    /// Reads the global variables from the process environment, strictly.
    ///
    /// Unset variables keep their built-in default. The first bad variable, in the order of the
    /// table in the [module documentation](crate::config), is the error; a value that is not valid UTF-8 is
    /// an error too. Per-breaker variables are not read (see [`BreakerOverrides::from_env`] and
    /// [`init`]).
    pub fn from_env() -> Result<Settings, ConfigError> {
        strict(Settings::read(&process_env))
    }

    /// Reads the global variables through `lookup` (variable name to value), strictly.
    ///
    /// For tests and other sources than the process environment. `None` means unset.
    ///
    /// ```
    /// use resilience::config::{Settings, RETRY_BASE_DELAY};
    /// use std::time::Duration;
    ///
    /// let settings =
    ///     Settings::from_lookup(|name| (name == RETRY_BASE_DELAY).then(|| "250ms".to_owned()))?;
    /// assert_eq!(settings.retry.base_delay, Duration::from_millis(250));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        strict(Settings::read(&|name: &str| {
            lookup(name).map(RawValue::Text)
        }))
    }

    /// Reads the global variables through `lookup`, leniently.
    ///
    /// Every bad variable keeps its built-in default and its error is returned, in the order of
    /// the table in the [module documentation](crate::config) (breaker, then retry, then health
    /// variables). The vector is empty when every set variable is good.
    ///
    /// ```
    /// use resilience::config::{Settings, BreakerSettings};
    ///
    /// let (settings, errors) = Settings::from_lookup_lenient(|name| match name {
    ///     "CIRCUIT_BREAKER_FAILURE_THRESHOLD" => Some("many".to_owned()),
    ///     "MAX_RETRY_ATTEMPTS" => Some("5".to_owned()),
    ///     _ => None,
    /// });
    /// assert_eq!(settings.breaker, BreakerSettings::BUILT_IN);
    /// assert_eq!(settings.retry.max_attempts, 5);
    /// assert_eq!(errors.len(), 1);
    /// assert_eq!(errors[0].input(), "CIRCUIT_BREAKER_FAILURE_THRESHOLD");
    /// assert_eq!(errors[0].value(), "many");
    /// ```
    pub fn from_lookup_lenient(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> (Settings, Vec<ConfigError>) {
        Settings::read(&|name: &str| lookup(name).map(RawValue::Text))
    }

    /// Reads the global variables of the process environment, leniently.
    pub(crate) fn from_env_lenient() -> (Settings, Vec<ConfigError>) {
        Settings::read(&process_env)
    }

    /// Reads every global variable, in the documented order, each once.
    fn read(lookup: &dyn Fn(&str) -> Option<RawValue>) -> (Settings, Vec<ConfigError>) {
        let mut r = Reader::new(lookup);
        let b = BreakerSettings::BUILT_IN;
        let failure_threshold = r
            .read(CIRCUIT_BREAKER_FAILURE_THRESHOLD, parse_failure_threshold)
            .unwrap_or(b.failure_threshold);
        let recovery_timeout = r
            .read(CIRCUIT_BREAKER_RECOVERY_TIMEOUT, parse_positive_duration)
            .unwrap_or(b.recovery_timeout);
        let half_open_max_calls = r
            .read(CIRCUIT_BREAKER_HALF_OPEN_CALLS, parse_half_open_calls)
            .unwrap_or(b.half_open_max_calls);
        let success_threshold = r
            .read(CIRCUIT_BREAKER_SUCCESS_THRESHOLD, parse_success_threshold)
            .unwrap_or(b.success_threshold);

        let d = RetrySettings::BUILT_IN;
        let max_attempts = r
            .read(MAX_RETRY_ATTEMPTS_VAR, parse_max_attempts)
            .unwrap_or(d.max_attempts);
        let base_delay = r
            .read(RETRY_BASE_DELAY, parse_duration)
            .unwrap_or(d.base_delay);
        let max_delay = r
            .read(RETRY_MAX_DELAY, parse_duration)
            .unwrap_or(d.max_delay);
        let exponential_base = r
            .read(RETRY_EXPONENTIAL_BASE, parse_exponential_base)
            .unwrap_or(d.exponential_base);
        let jitter = r.read(RETRY_JITTER_ENABLED, parse_bool).unwrap_or(d.jitter);

        let check_interval = r
            .read(HEALTH_CHECK_INTERVAL, parse_positive_duration)
            .unwrap_or(HealthSettings::BUILT_IN.check_interval);

        let settings = Settings {
            breaker: BreakerSettings {
                failure_threshold,
                recovery_timeout,
                half_open_max_calls,
                success_threshold,
            },
            retry: RetrySettings {
                max_attempts,
                base_delay,
                max_delay,
                exponential_base,
                jitter,
            },
            health: HealthSettings { check_interval },
        };
        (settings, r.errors)
    }
}

impl Default for Settings {
    /// [`Settings::BUILT_IN`].
    fn default() -> Self {
        Self::BUILT_IN
    }
}

// ---------------------------------------------------------------------------------------------
// Per-breaker variables
// ---------------------------------------------------------------------------------------------

/// The four per-breaker keys.
///
/// Each names a global variable `CIRCUIT_BREAKER_<KEY>` and, for a breaker `<NAME>`, a
/// per-breaker variable `CIRCUIT_BREAKER_<NAME>_<KEY>`.
///
/// ```
/// use resilience::config::BreakerKey;
///
/// let key = BreakerKey::RecoveryTimeout;
/// assert_eq!(key.suffix(), "RECOVERY_TIMEOUT");
/// assert_eq!(key.global_var(), "CIRCUIT_BREAKER_RECOVERY_TIMEOUT");
/// assert_eq!(key.setting(), "recovery_timeout");
/// assert_eq!(key.breaker_var("tier1_mcp"), "CIRCUIT_BREAKER_TIER1_MCP_RECOVERY_TIMEOUT");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerKey {
    /// `FAILURE_THRESHOLD`, the setting `failure_threshold`.
    FailureThreshold,
    /// `RECOVERY_TIMEOUT`, the setting `recovery_timeout`.
    RecoveryTimeout,
    /// `HALF_OPEN_CALLS`, the setting `half_open_max_calls`.
    HalfOpenCalls,
    /// `SUCCESS_THRESHOLD`, the setting `success_threshold`.
    SuccessThreshold,
}

impl BreakerKey {
    /// Every key, in the documented order.
    pub const ALL: [BreakerKey; 4] = [
        BreakerKey::FailureThreshold,
        BreakerKey::RecoveryTimeout,
        BreakerKey::HalfOpenCalls,
        BreakerKey::SuccessThreshold,
    ];

    /// The `<KEY>` part of the variable names: `"FAILURE_THRESHOLD"`, `"RECOVERY_TIMEOUT"`,
    /// `"HALF_OPEN_CALLS"` or `"SUCCESS_THRESHOLD"`.
    pub fn suffix(self) -> &'static str {
        match self {
            BreakerKey::FailureThreshold => "FAILURE_THRESHOLD",
            BreakerKey::RecoveryTimeout => "RECOVERY_TIMEOUT",
            BreakerKey::HalfOpenCalls => "HALF_OPEN_CALLS",
            BreakerKey::SuccessThreshold => "SUCCESS_THRESHOLD",
        }
    }

    /// The global variable, such as [`CIRCUIT_BREAKER_FAILURE_THRESHOLD`].
    pub fn global_var(self) -> &'static str {
        match self {
            BreakerKey::FailureThreshold => CIRCUIT_BREAKER_FAILURE_THRESHOLD,
            BreakerKey::RecoveryTimeout => CIRCUIT_BREAKER_RECOVERY_TIMEOUT,
            BreakerKey::HalfOpenCalls => CIRCUIT_BREAKER_HALF_OPEN_CALLS,
            BreakerKey::SuccessThreshold => CIRCUIT_BREAKER_SUCCESS_THRESHOLD,
        }
    }

    /// The setting written in code that the variable overrides, as the builder method and the
    /// attribute key spell it: `"failure_threshold"`, `"recovery_timeout"`,
    /// `"half_open_max_calls"` or `"success_threshold"`.
    pub fn setting(self) -> &'static str {
        match self {
            BreakerKey::FailureThreshold => "failure_threshold",
            BreakerKey::RecoveryTimeout => "recovery_timeout",
            BreakerKey::HalfOpenCalls => "half_open_max_calls",
            BreakerKey::SuccessThreshold => "success_threshold",
        }
    }

    /// The per-breaker variable of the breaker `name`: `CIRCUIT_BREAKER_`, the name upper-cased
    /// (ASCII letters only) with each `:` written `_`, then `_` and [`suffix`](Self::suffix). A
    /// default name such as `billing::zoho::get_account` thus reads
    /// `CIRCUIT_BREAKER_BILLING__ZOHO__GET_ACCOUNT_<KEY>`.
    pub fn breaker_var(self, name: &str) -> String {
        let suffix = self.suffix();
        let mut var = String::with_capacity(BREAKER_PREFIX.len() + name.len() + 1 + suffix.len());
        var.push_str(BREAKER_PREFIX);
        // `billing::zoho::get` reads `BILLING__ZOHO__GET`.
        var.extend(name.chars().map(|c| {
            if c == ':' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        }));
        var.push('_');
        var.push_str(suffix);
        var
    }

    /// Checks a value for this key with the rules of its global variable.
    fn check(self, text: &str) -> Result<(), String> {
        match self {
            BreakerKey::FailureThreshold => parse_failure_threshold(text).map(drop),
            BreakerKey::RecoveryTimeout => parse_positive_duration(text).map(drop),
            BreakerKey::HalfOpenCalls => parse_half_open_calls(text).map(drop),
            BreakerKey::SuccessThreshold => parse_success_threshold(text).map(drop),
        }
    }
}

/// The values of one breaker's variables `CIRCUIT_BREAKER_<NAME>_<KEY>`; `None` where unset.
///
/// Each value follows the rules of the matching global variable. The name is upper-cased as
/// [`BreakerKey::breaker_var`] does, so `tier1_mcp` and `TIER1_MCP` read the same variables; the
/// name itself is not checked here ([`validate_name`] does that).
///
/// ```
/// use resilience::config::BreakerOverrides;
/// use std::time::Duration;
///
/// let overrides = BreakerOverrides::from_lookup("tier1_mcp", |name| {
///     (name == "CIRCUIT_BREAKER_TIER1_MCP_RECOVERY_TIMEOUT").then(|| "30s".to_owned())
/// })?;
/// assert_eq!(overrides.recovery_timeout, Some(Duration::from_secs(30)));
/// assert_eq!(overrides.failure_threshold, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BreakerOverrides {
    /// From `CIRCUIT_BREAKER_<NAME>_FAILURE_THRESHOLD`.
    pub failure_threshold: Option<u32>,
    /// From `CIRCUIT_BREAKER_<NAME>_RECOVERY_TIMEOUT`.
    pub recovery_timeout: Option<Duration>,
    /// From `CIRCUIT_BREAKER_<NAME>_HALF_OPEN_CALLS`.
    pub half_open_max_calls: Option<u32>,
    /// From `CIRCUIT_BREAKER_<NAME>_SUCCESS_THRESHOLD`.
    pub success_threshold: Option<u32>,
}

impl BreakerOverrides {
    /// Reads the variables of the breaker `name` from the process environment, strictly: the
    /// first bad one, in the order of [`BreakerKey::ALL`], is the error (a value that is not
    /// valid UTF-8 included).
    pub fn from_env(name: &str) -> Result<BreakerOverrides, ConfigError> {
        strict(BreakerOverrides::read(name, &process_env))
    }

    /// Reads the variables of the breaker `name` through `lookup`, strictly.
    pub fn from_lookup(
        name: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<BreakerOverrides, ConfigError> {
        strict(BreakerOverrides::read(name, &|var: &str| {
            lookup(var).map(RawValue::Text)
        }))
    }

    /// Reads the variables of the breaker `name` through `lookup`, leniently: a bad value is
    /// left `None` and its error returned, in the order of [`BreakerKey::ALL`].
    pub fn from_lookup_lenient(
        name: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> (BreakerOverrides, Vec<ConfigError>) {
        BreakerOverrides::read(name, &|var: &str| lookup(var).map(RawValue::Text))
    }

    fn read(
        name: &str,
        lookup: &dyn Fn(&str) -> Option<RawValue>,
    ) -> (BreakerOverrides, Vec<ConfigError>) {
        let mut r = Reader::new(lookup);
        let var = |key: BreakerKey| key.breaker_var(name);
        let failure_threshold = r.read(&var(BreakerKey::FailureThreshold), parse_failure_threshold);
        let recovery_timeout = r.read(&var(BreakerKey::RecoveryTimeout), parse_positive_duration);
        let half_open_max_calls = r.read(&var(BreakerKey::HalfOpenCalls), parse_half_open_calls);
        let success_threshold = r.read(&var(BreakerKey::SuccessThreshold), parse_success_threshold);
        let overrides = BreakerOverrides {
            failure_threshold,
            recovery_timeout,
            half_open_max_calls,
            success_threshold,
        };
        (overrides, r.errors)
    }
}

/// Whether `name` can be a breaker name.
///
/// A name is non-empty, made of ASCII letters, digits and `_`, with `::` between path segments
/// (a default name of the attribute, `billing::zoho::get_account`), and does not start with a
/// digit, so that `CIRCUIT_BREAKER_<NAME>_<KEY>` is a valid environment variable name (each `:`
/// is written `_` there, see [`BreakerKey::breaker_var`]). The error is the
/// reason, a sentence fragment such as `must not be empty`.
///
/// ```
/// use resilience::config::validate_name;
///
/// assert_eq!(validate_name("tier1_mcp"), Ok(()));
/// assert_eq!(validate_name("billing::zoho::get_account"), Ok(()));
/// assert_eq!(validate_name(""), Err("must not be empty".to_owned()));
/// assert_eq!(
///     validate_name("tier-1"),
///     Err("may contain only ASCII letters, digits and '_' (found '-')".to_owned())
/// );
/// ```
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    // `::` between path segments, as in a default name (`billing::zoho::get_account`).
    for segment in name.split("::") {
        if segment.is_empty() {
            return Err("may have `::` only between two path segments".to_owned());
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            return Err(format!(
                "may contain only ASCII letters, digits and '_' (found {c:?})"
            ));
        }
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("must not start with a digit".to_owned());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

const DURATION_FORMATS: &str =
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

fn too_long() -> String {
    format!(
        "too large; at most 365 days ({} seconds)",
        MAX_DURATION.as_secs()
    )
}

/// Parses `digits[.digits]` (either part may be missing, not both) exactly, to the nanosecond.
/// `None` when `text` does not have that shape.
fn parse_plain_seconds(text: &str) -> Option<Result<Duration, String>> {
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
fn parse_with_unit(text: &str) -> Result<Duration, String> {
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
fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("must be greater than zero".to_owned());
    }
    Ok(duration)
}

/// A whole number from 1 to `max`.
fn parse_count(text: &str, max: u32) -> Result<u32, String> {
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

fn parse_failure_threshold(text: &str) -> Result<u32, String> {
    parse_count(text, MAX_FAILURE_THRESHOLD)
}

fn parse_half_open_calls(text: &str) -> Result<u32, String> {
    parse_count(text, MAX_HALF_OPEN_CALLS)
}

fn parse_success_threshold(text: &str) -> Result<u32, String> {
    parse_count(text, MAX_HALF_OPEN_CALLS)
}

fn parse_max_attempts(text: &str) -> Result<u32, String> {
    parse_count(text, MAX_RETRY_ATTEMPTS)
}

fn parse_exponential_base(text: &str) -> Result<f64, String> {
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

fn parse_bool(text: &str) -> Result<bool, String> {
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

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// A variable's value as found: text, or a value that is not valid UTF-8 (kept lossily, to name
/// it in the error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawValue {
    Text(String),
    NotUnicode(String),
}

impl From<String> for RawValue {
    fn from(text: String) -> Self {
        RawValue::Text(text)
    }
}

impl From<OsString> for RawValue {
    fn from(value: OsString) -> Self {
        value.into_string().map_or_else(
            |os| RawValue::NotUnicode(os.to_string_lossy().into_owned()),
            RawValue::Text,
        )
    }
}

fn process_env(name: &str) -> Option<RawValue> {
    std::env::var_os(name).map(RawValue::from)
}

/// Parses `raw`, the value of `variable`; the error names both.
fn check<T>(
    variable: &str,
    raw: RawValue,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    let (value, reason) = match raw {
        RawValue::Text(value) => match parse(&value) {
            Ok(parsed) => return Ok(parsed),
            Err(reason) => (value, reason),
        },
        RawValue::NotUnicode(value) => (value, "not valid UTF-8".to_owned()),
    };
    Err(ConfigError::InvalidEnv {
        variable: variable.to_owned(),
        value,
        reason,
    })
}

/// Reads variables one after the other, collecting the errors in order.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<RawValue>,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    fn new(lookup: &'a dyn Fn(&str) -> Option<RawValue>) -> Self {
        Reader {
            lookup,
            errors: Vec::new(),
        }
    }

    /// The parsed value; `None` when unset or bad (the error is recorded).
    fn read<T>(&mut self, variable: &str, parse: fn(&str) -> Result<T, String>) -> Option<T> {
        let raw = (self.lookup)(variable)?;
        match check(variable, raw, parse) {
            Ok(value) => Some(value),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }
}

/// The value, or the first error.
fn strict<T>((value, errors): (T, Vec<ConfigError>)) -> Result<T, ConfigError> {
    match errors.into_iter().next() {
        None => Ok(value),
        Some(first) => Err(first),
    }
}

/// Splits a per-breaker variable `CIRCUIT_BREAKER_<NAME>_<KEY>` into its non-empty name and its
/// key. `None` for anything else, the global variables included.
fn parse_breaker_var(variable: &str) -> Option<(&str, BreakerKey)> {
    let rest = variable.strip_prefix(BREAKER_PREFIX)?;
    BreakerKey::ALL.into_iter().find_map(|key| {
        let name = rest.strip_suffix(key.suffix())?.strip_suffix('_')?;
        (!name.is_empty()).then_some((name, key))
    })
}

// ---------------------------------------------------------------------------------------------
// Process-wide settings
// ---------------------------------------------------------------------------------------------

static SETTINGS: LazyLock<Settings> = LazyLock::new(|| {
    let (settings, errors) = Settings::from_env_lenient();
    log_invalid(&errors);
    settings
});

fn log_invalid(errors: &[ConfigError]) {
    for e in errors {
        tracing::error!(
            target: "resilience",
            variable = %e.input(),
            value = %e.value(),
            error = %e,
            "invalid environment variable ignored; the built-in default applies"
        );
    }
}

/// The process-wide settings, read from the global variables of the environment once, on first
/// use.
///
/// A bad variable is logged once, at error level under the target `resilience` (with the fields
/// `variable`, `value` and `error`), and its built-in default is kept. Call [`init`] at start to
/// fail on it instead.
///
/// ```
/// let settings = resilience::config::settings();
/// assert!(settings.breaker.failure_threshold >= 1);
/// ```
pub fn settings() -> &'static Settings {
    &SETTINGS
}

/// Validates the whole environment now, for a service that wants to fail fast at start.
///
/// Checks the global variables and every per-breaker variable present in the process
/// environment: any variable named `CIRCUIT_BREAKER_<NAME>_<KEY>` with a non-empty `<NAME>` and
/// `<KEY>` one of the four [`BreakerKey`] suffixes, whether or not a breaker of that name exists.
/// A value that is not valid UTF-8 is an error too.
///
/// Returns the global settings, or the first error: global variables first (in the order of
/// [`Settings::from_lookup_lenient`]), then per-breaker variables sorted by variable name.
///
/// This does not change what [`settings`] returns.
///
/// ```no_run
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let settings = resilience::config::init()?;
///     println!("failure threshold: {}", settings.breaker.failure_threshold);
///     Ok(())
/// }
/// ```
pub fn init() -> Result<Settings, ConfigError> {
    init_from(std::env::vars_os().map(|(name, value)| (name.to_string_lossy().into_owned(), value)))
}

/// [`init`] on the given variables instead of the process environment. When a variable appears
/// twice, the last value counts.
pub(crate) fn init_from<V: Into<RawValue>>(
    vars: impl IntoIterator<Item = (String, V)>,
) -> Result<Settings, ConfigError> {
    let vars: BTreeMap<String, RawValue> = vars
        .into_iter()
        .map(|(name, value)| (name, value.into()))
        .collect();
    let settings = strict(Settings::read(&|name: &str| vars.get(name).cloned()))?;
    // The map is sorted by variable name.
    for (variable, raw) in vars {
        if let Some((_, key)) = parse_breaker_var(&variable) {
            check(&variable, raw, |text| key.check(text))?;
        }
    }
    Ok(settings)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Resolution helpers shared by the builders
// ---------------------------------------------------------------------------------------------

/// A source of environment variables: name to value.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Where a builder reads environment variables from.
#[derive(Clone, Copy)]
pub(crate) enum Env<'a> {
    /// The process environment; its global variables are read once ([`settings`]).
    Process,
    /// A lookup function, read afresh.
    Lookup(Lookup<'a>),
}

fn process_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl<'a> Env<'a> {
    /// The lookup, the global settings it gives, and the bad variables not yet logged.
    pub(crate) fn globals(self) -> (Lookup<'a>, Settings, Vec<ConfigError>) {
        match self {
            // Errors of the process's global variables are logged by `settings()`, once.
            Env::Process => (&process_var, *settings(), Vec::new()),
            Env::Lookup(lookup) => {
                let (settings, errors) = Settings::from_lookup_lenient(lookup);
                (lookup, settings, errors)
            }
        }
    }
}

/// Picks the configuration resolved with the environment when it is valid; when a value from
/// the environment makes it unworkable, logs that and falls back to the code's values and
/// the defaults. An invalid value from code is the error. `source` names the variable a
/// setting's value came from, for `validate` to put in its error.
pub(crate) fn prefer_env<C>(
    context: &str,
    mut problems: Vec<ConfigError>,
    (with_env, code_only): (C, C),
    validate: impl Fn(&C, &dyn Fn(&'static str) -> Option<String>) -> Result<(), ConfigError>,
    source: impl Fn(&'static str) -> Option<String>,
) -> Result<C, ConfigError> {
    let chosen = match validate(&with_env, &source) {
        Ok(()) => with_env,
        Err(env_error @ ConfigError::InvalidEnv { .. }) => {
            validate(&code_only, &|_| None)?;
            problems.push(env_error);
            code_only
        }
        Err(code_error) => return Err(code_error),
    };
    for problem in &problems {
        log_ignored(context, problem);
    }
    Ok(chosen)
}

/// The error for a rule between two settings (`first` must not exceed `second`, say), each
/// given as (setting, value, reason): blames the first whose value came from the environment,
/// so that a variable that breaks the rule is ignored like any unworkable variable; the first
/// setting, written in code, when neither did.
pub(crate) fn invalid_pair(
    source: &dyn Fn(&'static str) -> Option<String>,
    context: &str,
    [first, second]: [(&'static str, String, String); 2],
) -> ConfigError {
    let (setting, value, reason) = if source(first.0).is_none() && source(second.0).is_some() {
        second
    } else {
        first
    };
    invalid(source, context, setting, value, reason)
}

/// The error for `setting = value`: named by the environment variable it came from, when
/// `source` names one, or as a setting written in code for `context`.
pub(crate) fn invalid(
    source: &dyn Fn(&'static str) -> Option<String>,
    context: &str,
    setting: &'static str,
    value: String,
    reason: String,
) -> ConfigError {
    match source(setting) {
        Some(variable) => ConfigError::InvalidEnv {
            variable,
            value,
            reason,
        },
        None => ConfigError::InvalidSetting {
            setting,
            value,
            reason,
            context: context.to_owned(),
        },
    }
}

/// Logs an environment variable that is being ignored, once per variable and value.
fn log_ignored(context: &str, error: &ConfigError) {
    static LOGGED: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    let key = (error.input().to_owned(), error.value().to_owned());
    {
        let mut logged = LOGGED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if logged.contains(&key) {
            return;
        }
        logged.push(key);
    }
    tracing::error!(
        target: "resilience",
        event = "config_error",
        context,
        variable = error.input(),
        value = error.value(),
        error = %error,
        "ignoring an environment variable; keeping the value from code or the default"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    /// A lookup over fixed pairs.
    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    /// Asserts that `err` is an `InvalidEnv` for `variable` = `value` whose reason contains
    /// `reason`.
    #[track_caller]
    fn assert_invalid(err: &ConfigError, variable: &str, value: &str, reason: &str) {
        match err {
            ConfigError::InvalidEnv {
                variable: v,
                value: val,
                reason: r,
            } => {
                assert_eq!(v, variable, "variable of {err:?}");
                assert_eq!(val, value, "value of {err:?}");
                assert!(
                    r.contains(reason),
                    "reason {r:?} of {variable}={value:?} should contain {reason:?}"
                );
                let message = err.to_string();
                assert!(message.contains(variable), "{message}");
                assert!(message.contains(&format!("{value:?}")), "{message}");
            }
            other => panic!("expected InvalidEnv, got {other:?}"),
        }
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    // --- whole numbers -------------------------------------------------------------------

    struct CountVar {
        variable: &'static str,
        get: fn(&Settings) -> u32,
        max: u32,
    }

    const COUNT_VARS: [CountVar; 4] = [
        CountVar {
            variable: CIRCUIT_BREAKER_FAILURE_THRESHOLD,
            get: |s| s.breaker.failure_threshold,
            max: MAX_FAILURE_THRESHOLD,
        },
        CountVar {
            variable: CIRCUIT_BREAKER_HALF_OPEN_CALLS,
            get: |s| s.breaker.half_open_max_calls,
            max: MAX_HALF_OPEN_CALLS,
        },
        CountVar {
            variable: CIRCUIT_BREAKER_SUCCESS_THRESHOLD,
            get: |s| s.breaker.success_threshold,
            max: MAX_HALF_OPEN_CALLS,
        },
        CountVar {
            variable: MAX_RETRY_ATTEMPTS_VAR,
            get: |s| s.retry.max_attempts,
            max: MAX_RETRY_ATTEMPTS,
        },
    ];

    #[test]
    fn whole_number_variables_accept_valid_values() {
        for var in &COUNT_VARS {
            let max = var.max.to_string();
            let cases: [(&str, u32); 6] = [
                ("1", 1),
                ("7", 7),
                (" 7 ", 7),
                ("\t12\n", 12),
                ("007", 7),
                (max.as_str(), var.max),
            ];
            for (text, expected) in cases {
                let settings = Settings::from_lookup(env(&[(var.variable, text)]))
                    .unwrap_or_else(|e| panic!("{}={text:?}: {e}", var.variable));
                assert_eq!((var.get)(&settings), expected, "{}={text:?}", var.variable);
            }
        }
    }

    #[test]
    fn whole_number_variables_reject_invalid_values() {
        for var in &COUNT_VARS {
            let above = (var.max + 1).to_string();
            let cases: [(&str, &str); 14] = [
                ("", "empty value; expected a whole number"),
                ("   ", "empty value; expected a whole number"),
                ("abc", "expected a whole number"),
                ("1.5", "expected a whole number"),
                ("５", "expected a whole number"),
                ("+5", "expected a whole number"),
                ("1e3", "expected a whole number"),
                ("NaN", "expected a whole number"),
                ("inf", "expected a whole number"),
                ("-1", "must be at least 1"),
                ("0", "must be at least 1"),
                (" 0 ", "must be at least 1"),
                ("99999999999", "too large; at most"),
                (&above, "too large; at most"),
            ];
            for (text, reason) in cases {
                let err = Settings::from_lookup(env(&[(var.variable, text)])).unwrap_err();
                assert_invalid(&err, var.variable, text, reason);
                if reason.starts_with("too large") {
                    assert_invalid(&err, var.variable, text, &format!("at most {}", var.max));
                }
            }
        }
    }

    // --- durations -----------------------------------------------------------------------

    struct DurationVar {
        variable: &'static str,
        get: fn(&Settings) -> Duration,
        zero_ok: bool,
    }

    const DURATION_VARS: [DurationVar; 4] = [
        DurationVar {
            variable: CIRCUIT_BREAKER_RECOVERY_TIMEOUT,
            get: |s| s.breaker.recovery_timeout,
            zero_ok: false,
        },
        DurationVar {
            variable: RETRY_BASE_DELAY,
            get: |s| s.retry.base_delay,
            zero_ok: true,
        },
        DurationVar {
            variable: RETRY_MAX_DELAY,
            get: |s| s.retry.max_delay,
            zero_ok: true,
        },
        DurationVar {
            variable: HEALTH_CHECK_INTERVAL,
            get: |s| s.health.check_interval,
            zero_ok: false,
        },
    ];

    #[test]
    fn duration_variables_accept_valid_values() {
        let cases: [(&str, Duration); 15] = [
            ("60", Duration::from_secs(60)),
            ("1.5", Duration::from_millis(1500)),
            ("0.25", Duration::from_millis(250)),
            (".5", Duration::from_millis(500)),
            ("3.", Duration::from_secs(3)),
            ("0.000000001", Duration::from_nanos(1)),
            ("2.500000000000", Duration::from_millis(2500)),
            (" 7 ", Duration::from_secs(7)),
            ("500ms", Duration::from_millis(500)),
            ("2m", Duration::from_secs(120)),
            ("1m 30s", Duration::from_secs(90)),
            ("60s", Duration::from_secs(60)),
            ("1h", Duration::from_secs(3600)),
            ("365d", MAX_DURATION),
            ("31536000", MAX_DURATION),
        ];
        for var in &DURATION_VARS {
            for (text, expected) in cases {
                let settings = Settings::from_lookup(env(&[(var.variable, text)]))
                    .unwrap_or_else(|e| panic!("{}={text:?}: {e}", var.variable));
                assert_eq!((var.get)(&settings), expected, "{}={text:?}", var.variable);
            }
            for zero in ["0", "0s", "0ms", "0.0"] {
                let result = Settings::from_lookup(env(&[(var.variable, zero)]));
                if var.zero_ok {
                    assert_eq!(result.map(|s| (var.get)(&s)), Ok(Duration::ZERO));
                } else {
                    assert_invalid(
                        &result.unwrap_err(),
                        var.variable,
                        zero,
                        "must be greater than zero",
                    );
                }
            }
        }
    }

    #[test]
    fn duration_variables_reject_invalid_values() {
        let cases: [(&str, &str); 16] = [
            ("", "empty value; expected a number of seconds"),
            (" ", "empty value; expected a number of seconds"),
            ("abc", "expected a number of seconds"),
            ("-1", "must not be negative"),
            ("-0.5", "must not be negative"),
            ("-5s", "must not be negative"),
            ("NaN", "must be a finite number"),
            ("inf", "must be a finite number"),
            ("-inf", "must be a finite number"),
            ("1e3", "expected a number of seconds"),
            ("10 parsecs", "unknown unit \"parsecs\""),
            ("５", "expected a number of seconds"),
            ("31536001", "too large; at most 365 days"),
            ("366d", "too large; at most 365 days"),
            ("99999999999999999999999", "too large"),
            ("0.0000000001", "finer than a nanosecond"),
        ];
        for var in &DURATION_VARS {
            for (text, reason) in cases {
                let err = Settings::from_lookup(env(&[(var.variable, text)])).unwrap_err();
                assert_invalid(&err, var.variable, text, reason);
            }
        }
    }

    #[test]
    fn parse_duration_directly() {
        assert_eq!(parse_duration("0.25"), Ok(secs(0.25)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h 37min"), Ok(Duration::from_secs(9420)));
        assert_eq!(parse_duration("  500ms\n"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("-1"), Err("must not be negative".to_owned()));
        assert!(parse_duration("").unwrap_err().starts_with("empty value"));
        assert!(parse_duration("1.2.3").is_err());
        assert!(parse_duration(".").is_err());
        assert!(
            parse_duration("10 parsecs")
                .unwrap_err()
                .contains("parsecs")
        );
    }

    // --- exponential base and jitter ------------------------------------------------------

    #[test]
    fn exponential_base_values() {
        for (text, expected) in [
            ("2", 2.0),
            ("1", 1.0),
            (" 1.5 ", 1.5),
            ("3.0", 3.0),
            ("1e1", 10.0),
        ] {
            let settings = Settings::from_lookup(env(&[(RETRY_EXPONENTIAL_BASE, text)])).unwrap();
            assert_eq!(settings.retry.exponential_base, expected, "{text:?}");
        }
        for (text, reason) in [
            ("", "empty value; expected a number such as 2.0"),
            ("abc", "expected a number such as 2.0"),
            ("５", "expected a number such as 2.0"),
            ("NaN", "must be a finite number"),
            ("inf", "must be a finite number"),
            ("-inf", "must be a finite number"),
            (
                "0.5",
                "must be at least 1.0 (a base below 1 would shrink the delays)",
            ),
            ("0", "must be at least 1.0"),
            ("-1", "must be at least 1.0"),
        ] {
            let err = Settings::from_lookup(env(&[(RETRY_EXPONENTIAL_BASE, text)])).unwrap_err();
            assert_invalid(&err, RETRY_EXPONENTIAL_BASE, text, reason);
        }
    }

    #[test]
    fn jitter_values() {
        for (text, expected) in [
            ("true", true),
            ("TRUE", true),
            (" True ", true),
            ("1", true),
            ("yes", true),
            ("On", true),
            ("false", false),
            ("FALSE", false),
            ("0", false),
            ("no", false),
            ("off", false),
            ("OFF\n", false),
        ] {
            let settings = Settings::from_lookup(env(&[(RETRY_JITTER_ENABLED, text)])).unwrap();
            assert_eq!(settings.retry.jitter, expected, "{text:?}");
        }
        for text in ["", "maybe", "2", "-1", "t", "enabled", "ｔｒｕｅ"] {
            let err = Settings::from_lookup(env(&[(RETRY_JITTER_ENABLED, text)])).unwrap_err();
            assert_invalid(&err, RETRY_JITTER_ENABLED, text, "expected true or false");
        }
    }

    // --- whole settings ----------------------------------------------------------------------

    #[test]
    fn built_in_defaults() {
        let s = Settings::BUILT_IN;
        assert_eq!(s.breaker.failure_threshold, 5);
        assert_eq!(s.breaker.recovery_timeout, Duration::from_secs(60));
        assert_eq!(s.breaker.half_open_max_calls, 3);
        assert_eq!(s.breaker.success_threshold, 2);
        assert_eq!(s.retry.max_attempts, 3);
        assert_eq!(s.retry.base_delay, Duration::from_secs(1));
        assert_eq!(s.retry.max_delay, Duration::from_secs(60));
        assert_eq!(s.retry.exponential_base, 2.0);
        assert!(s.retry.jitter);
        assert_eq!(s.health.check_interval, Duration::from_secs(30));
        assert_eq!(Settings::default(), s);
        assert_eq!(BreakerSettings::default(), s.breaker);
        assert_eq!(RetrySettings::default(), s.retry);
        assert_eq!(HealthSettings::default(), s.health);
        assert_eq!(Settings::from_lookup(|_| None), Ok(s));
        assert_eq!(Settings::from_lookup_lenient(|_| None), (s, Vec::new()));
    }

    #[test]
    fn every_variable_is_read() {
        let settings = Settings::from_lookup(env(&[
            (CIRCUIT_BREAKER_FAILURE_THRESHOLD, "8"),
            (CIRCUIT_BREAKER_RECOVERY_TIMEOUT, "2m"),
            (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "4"),
            (CIRCUIT_BREAKER_SUCCESS_THRESHOLD, "3"),
            (MAX_RETRY_ATTEMPTS_VAR, "6"),
            (RETRY_BASE_DELAY, "250ms"),
            (RETRY_MAX_DELAY, "10"),
            (RETRY_EXPONENTIAL_BASE, "1.5"),
            (RETRY_JITTER_ENABLED, "off"),
            (HEALTH_CHECK_INTERVAL, "45s"),
        ]))
        .unwrap();
        assert_eq!(
            settings,
            Settings {
                breaker: BreakerSettings {
                    failure_threshold: 8,
                    recovery_timeout: Duration::from_secs(120),
                    half_open_max_calls: 4,
                    success_threshold: 3,
                },
                retry: RetrySettings {
                    max_attempts: 6,
                    base_delay: Duration::from_millis(250),
                    max_delay: Duration::from_secs(10),
                    exponential_base: 1.5,
                    jitter: false,
                },
                health: HealthSettings {
                    check_interval: Duration::from_secs(45),
                },
            }
        );
    }

    #[test]
    fn cross_field_rules_are_left_to_the_builders() {
        let settings = Settings::from_lookup(env(&[
            (RETRY_BASE_DELAY, "10s"),
            (RETRY_MAX_DELAY, "1s"),
            (CIRCUIT_BREAKER_SUCCESS_THRESHOLD, "9"),
            (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "1"),
        ]))
        .unwrap();
        assert_eq!(settings.retry.base_delay, Duration::from_secs(10));
        assert_eq!(settings.retry.max_delay, Duration::from_secs(1));
        assert_eq!(settings.breaker.success_threshold, 9);
        assert_eq!(settings.breaker.half_open_max_calls, 1);
    }

    #[test]
    fn strict_returns_the_first_bad_variable_in_order() {
        let lookup = env(&[
            (HEALTH_CHECK_INTERVAL, "0"),
            (RETRY_JITTER_ENABLED, "maybe"),
            (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "lots"),
            (CIRCUIT_BREAKER_FAILURE_THRESHOLD, "3"),
        ]);
        let err = Settings::from_lookup(lookup).unwrap_err();
        assert_invalid(
            &err,
            CIRCUIT_BREAKER_HALF_OPEN_CALLS,
            "lots",
            "expected a whole number",
        );
    }

    #[test]
    fn lenient_keeps_defaults_and_reports_every_bad_variable() {
        let (settings, errors) = Settings::from_lookup_lenient(env(&[
            (HEALTH_CHECK_INTERVAL, "0"),
            (RETRY_JITTER_ENABLED, "maybe"),
            (RETRY_BASE_DELAY, "2s"),
            (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "lots"),
            (CIRCUIT_BREAKER_FAILURE_THRESHOLD, "9"),
            (RETRY_EXPONENTIAL_BASE, "0.5"),
        ]));
        let mut expected = Settings::BUILT_IN;
        expected.breaker.failure_threshold = 9;
        expected.retry.base_delay = Duration::from_secs(2);
        assert_eq!(settings, expected);
        let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.input(), e.value())).collect();
        assert_eq!(
            found,
            [
                (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "lots"),
                (RETRY_EXPONENTIAL_BASE, "0.5"),
                (RETRY_JITTER_ENABLED, "maybe"),
                (HEALTH_CHECK_INTERVAL, "0"),
            ]
        );
        assert_invalid(
            &errors[3],
            HEALTH_CHECK_INTERVAL,
            "0",
            "must be greater than zero",
        );
    }

    #[test]
    fn error_message_names_variable_and_value() {
        let err = Settings::from_lookup(env(&[(CIRCUIT_BREAKER_RECOVERY_TIMEOUT, "10 parsecs")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid environment variable CIRCUIT_BREAKER_RECOVERY_TIMEOUT=\"10 parsecs\": \
             unknown unit \"parsecs\"; use ms, s, m, h or d, as in \"500ms\" or \"2m\""
        );
    }

    #[test]
    fn the_raw_value_is_reported_untrimmed() {
        let err = Settings::from_lookup(env(&[(MAX_RETRY_ATTEMPTS_VAR, " 0 ")])).unwrap_err();
        assert_invalid(&err, MAX_RETRY_ATTEMPTS_VAR, " 0 ", "must be at least 1");
    }

    #[cfg(unix)]
    #[test]
    fn a_non_utf8_value_is_an_error() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![b'5', 0xff]);
        let raw = RawValue::from(bad);
        assert_eq!(raw, RawValue::NotUnicode("5\u{fffd}".to_owned()));
        let (settings, errors) =
            Settings::read(&|name: &str| (name == MAX_RETRY_ATTEMPTS_VAR).then(|| raw.clone()));
        assert_eq!(settings, Settings::BUILT_IN);
        assert_eq!(errors.len(), 1);
        assert_invalid(
            &errors[0],
            MAX_RETRY_ATTEMPTS_VAR,
            "5\u{fffd}",
            "not valid UTF-8",
        );
    }

    // --- per-breaker variables -------------------------------------------------------------

    #[test]
    fn breaker_keys() {
        let expected = [
            (
                BreakerKey::FailureThreshold,
                "FAILURE_THRESHOLD",
                CIRCUIT_BREAKER_FAILURE_THRESHOLD,
                "failure_threshold",
            ),
            (
                BreakerKey::RecoveryTimeout,
                "RECOVERY_TIMEOUT",
                CIRCUIT_BREAKER_RECOVERY_TIMEOUT,
                "recovery_timeout",
            ),
            (
                BreakerKey::HalfOpenCalls,
                "HALF_OPEN_CALLS",
                CIRCUIT_BREAKER_HALF_OPEN_CALLS,
                "half_open_max_calls",
            ),
            (
                BreakerKey::SuccessThreshold,
                "SUCCESS_THRESHOLD",
                CIRCUIT_BREAKER_SUCCESS_THRESHOLD,
                "success_threshold",
            ),
        ];
        assert_eq!(BreakerKey::ALL, expected.map(|e| e.0));
        for (key, suffix, global, setting) in expected {
            assert_eq!(key.suffix(), suffix);
            assert_eq!(key.global_var(), global);
            assert_eq!(key.global_var(), format!("CIRCUIT_BREAKER_{suffix}"));
            assert_eq!(key.setting(), setting);
        }
        assert_eq!(
            BreakerKey::FailureThreshold.breaker_var("tier1_mcp"),
            "CIRCUIT_BREAKER_TIER1_MCP_FAILURE_THRESHOLD"
        );
        assert_eq!(
            BreakerKey::HalfOpenCalls.breaker_var("Zoho"),
            "CIRCUIT_BREAKER_ZOHO_HALF_OPEN_CALLS"
        );
    }

    #[test]
    fn overrides_use_the_upper_cased_name() {
        let lookup = env(&[
            ("CIRCUIT_BREAKER_TIER1_MCP_RECOVERY_TIMEOUT", "30s"),
            ("CIRCUIT_BREAKER_TIER1_MCP_SUCCESS_THRESHOLD", " 4 "),
            ("CIRCUIT_BREAKER_tier1_mcp_FAILURE_THRESHOLD", "abc"),
            ("CIRCUIT_BREAKER_OTHER_FAILURE_THRESHOLD", "9"),
            (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "7"),
        ]);
        let overrides = BreakerOverrides::from_lookup("tier1_mcp", &lookup).unwrap();
        assert_eq!(
            overrides,
            BreakerOverrides {
                failure_threshold: None,
                recovery_timeout: Some(Duration::from_secs(30)),
                half_open_max_calls: None,
                success_threshold: Some(4),
            }
        );
        assert_eq!(
            BreakerOverrides::from_lookup("TIER1_MCP", &lookup),
            Ok(overrides)
        );
        assert_eq!(
            BreakerOverrides::from_lookup("other", &lookup),
            Ok(BreakerOverrides {
                failure_threshold: Some(9),
                ..BreakerOverrides::default()
            })
        );
        assert_eq!(
            BreakerOverrides::from_lookup("absent", &lookup),
            Ok(BreakerOverrides::default())
        );
    }

    #[test]
    fn overrides_follow_the_global_rules() {
        let cases: [(BreakerKey, &str, &str); 8] = [
            (BreakerKey::FailureThreshold, "0", "must be at least 1"),
            (
                BreakerKey::FailureThreshold,
                "1000001",
                "too large; at most 1000000",
            ),
            (
                BreakerKey::RecoveryTimeout,
                "0",
                "must be greater than zero",
            ),
            (BreakerKey::RecoveryTimeout, "10 parsecs", "unknown unit"),
            (BreakerKey::RecoveryTimeout, "-1", "must not be negative"),
            (
                BreakerKey::HalfOpenCalls,
                "10001",
                "too large; at most 10000",
            ),
            (
                BreakerKey::SuccessThreshold,
                "５",
                "expected a whole number",
            ),
            (BreakerKey::SuccessThreshold, "", "empty value"),
        ];
        for (key, text, reason) in cases {
            let variable = key.breaker_var("tier1_mcp");
            let err = BreakerOverrides::from_lookup("tier1_mcp", env(&[(variable.as_str(), text)]))
                .unwrap_err();
            assert_invalid(&err, &variable, text, reason);
            // The same value is rejected for the same reason in the global variable.
            let global = Settings::from_lookup(env(&[(key.global_var(), text)])).unwrap_err();
            assert_invalid(&global, key.global_var(), text, reason);
        }
    }

    #[test]
    fn lenient_overrides_drop_bad_values() {
        let (overrides, errors) = BreakerOverrides::from_lookup_lenient(
            "db",
            env(&[
                ("CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD", "zero"),
                ("CIRCUIT_BREAKER_DB_HALF_OPEN_CALLS", "5"),
                ("CIRCUIT_BREAKER_DB_FAILURE_THRESHOLD", "-3"),
            ]),
        );
        assert_eq!(
            overrides,
            BreakerOverrides {
                half_open_max_calls: Some(5),
                ..BreakerOverrides::default()
            }
        );
        assert_eq!(errors.len(), 2);
        assert_invalid(
            &errors[0],
            "CIRCUIT_BREAKER_DB_FAILURE_THRESHOLD",
            "-3",
            "must be at least 1",
        );
        assert_invalid(
            &errors[1],
            "CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD",
            "zero",
            "expected a whole number",
        );
        // Strict mode returns the first of them.
        let strict = BreakerOverrides::from_lookup(
            "db",
            env(&[
                ("CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD", "zero"),
                ("CIRCUIT_BREAKER_DB_FAILURE_THRESHOLD", "-3"),
            ]),
        );
        assert_eq!(strict, Err(errors[0].clone()));
    }

    #[test]
    fn breaker_variable_names_are_split_on_whole_keys() {
        assert_eq!(
            parse_breaker_var("CIRCUIT_BREAKER_TIER1_MCP_FAILURE_THRESHOLD"),
            Some(("TIER1_MCP", BreakerKey::FailureThreshold))
        );
        assert_eq!(
            parse_breaker_var("CIRCUIT_BREAKER_X_HALF_OPEN_CALLS"),
            Some(("X", BreakerKey::HalfOpenCalls))
        );
        assert_eq!(
            parse_breaker_var("CIRCUIT_BREAKER_HALF_OPEN_RECOVERY_TIMEOUT"),
            Some(("HALF_OPEN", BreakerKey::RecoveryTimeout))
        );
        assert_eq!(
            parse_breaker_var("CIRCUIT_BREAKER_SUCCESS_SUCCESS_THRESHOLD"),
            Some(("SUCCESS", BreakerKey::SuccessThreshold))
        );
        for global in BreakerKey::ALL.map(BreakerKey::global_var) {
            assert_eq!(parse_breaker_var(global), None, "{global}");
        }
        for other in [
            "CIRCUIT_BREAKER__FAILURE_THRESHOLD",
            "CIRCUIT_BREAKER_X_CALLS",
            "CIRCUIT_BREAKER_X_FAILURE_THRESHOLDS",
            "CIRCUIT_BREAKER_XFAILURE_THRESHOLD",
            "CIRCUIT_BREAKER_X_WINDOW_SIZE",
            "circuit_breaker_x_failure_threshold",
            "MY_CIRCUIT_BREAKER_X_FAILURE_THRESHOLD",
            "RETRY_BASE_DELAY",
            "",
        ] {
            assert_eq!(parse_breaker_var(other), None, "{other}");
        }
    }

    // --- init ------------------------------------------------------------------------------

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn init_reads_globals_and_checks_breaker_variables() {
        let settings = init_from(vars(&[
            ("PATH", "/usr/bin"),
            ("HOME", ""),
            (CIRCUIT_BREAKER_FAILURE_THRESHOLD, "8"),
            (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "4"),
            ("CIRCUIT_BREAKER_TIER1_MCP_RECOVERY_TIMEOUT", "30s"),
            ("CIRCUIT_BREAKER_X_HALF_OPEN_CALLS", "2"),
            // Not per-breaker variables: none of them is checked.
            ("CIRCUIT_BREAKER__FAILURE_THRESHOLD", "junk"),
            ("CIRCUIT_BREAKER_X_WINDOW_SIZE", "junk"),
            ("CIRCUIT_BREAKER_ENABLED", "junk"),
            ("circuit_breaker_x_failure_threshold", "junk"),
        ]))
        .unwrap();
        let mut expected = Settings::BUILT_IN;
        expected.breaker.failure_threshold = 8;
        expected.breaker.half_open_max_calls = 4;
        assert_eq!(settings, expected);
        assert_eq!(
            init_from(Vec::<(String, String)>::new()),
            Ok(Settings::BUILT_IN)
        );
    }

    #[test]
    fn init_reports_a_bad_breaker_variable() {
        let err = init_from(vars(&[
            (CIRCUIT_BREAKER_FAILURE_THRESHOLD, "8"),
            ("CIRCUIT_BREAKER_TIER1_MCP_RECOVERY_TIMEOUT", "30s"),
            ("CIRCUIT_BREAKER_TIER2_SDK_HALF_OPEN_CALLS", "0"),
        ]))
        .unwrap_err();
        assert_invalid(
            &err,
            "CIRCUIT_BREAKER_TIER2_SDK_HALF_OPEN_CALLS",
            "0",
            "must be at least 1",
        );
    }

    #[test]
    fn init_reports_global_errors_first_then_breakers_by_name() {
        let bad_breakers = [
            ("CIRCUIT_BREAKER_ZETA_FAILURE_THRESHOLD", "0"),
            ("CIRCUIT_BREAKER_ALPHA_RECOVERY_TIMEOUT", "soon"),
        ];
        let err = init_from(vars(&bad_breakers)).unwrap_err();
        assert_invalid(
            &err,
            "CIRCUIT_BREAKER_ALPHA_RECOVERY_TIMEOUT",
            "soon",
            "expected a number of seconds",
        );

        let mut with_global = bad_breakers.to_vec();
        with_global.push((HEALTH_CHECK_INTERVAL, "never"));
        with_global.push((RETRY_MAX_DELAY, "-1"));
        let err = init_from(vars(&with_global)).unwrap_err();
        assert_invalid(&err, RETRY_MAX_DELAY, "-1", "must not be negative");
    }

    #[test]
    fn init_uses_the_last_value_of_a_repeated_variable() {
        let ok = init_from(vars(&[
            (MAX_RETRY_ATTEMPTS_VAR, "0"),
            (MAX_RETRY_ATTEMPTS_VAR, "4"),
        ]));
        assert_eq!(ok.map(|s| s.retry.max_attempts), Ok(4));
    }

    #[cfg(unix)]
    #[test]
    fn init_rejects_a_non_utf8_breaker_value() {
        use std::os::unix::ffi::OsStringExt;
        let err = init_from([
            (
                "CIRCUIT_BREAKER_DB_FAILURE_THRESHOLD".to_owned(),
                OsString::from_vec(vec![0xc3, b'7']),
            ),
            ("UNRELATED".to_owned(), OsString::from_vec(vec![0xff])),
        ])
        .unwrap_err();
        assert_invalid(
            &err,
            "CIRCUIT_BREAKER_DB_FAILURE_THRESHOLD",
            "\u{fffd}7",
            "not valid UTF-8",
        );
    }

    #[test]
    fn init_and_settings_agree_with_the_process_environment() {
        // The tests never set variables; whatever the environment holds, the functions agree.
        let (lenient, errors) = Settings::from_env_lenient();
        assert_eq!(*settings(), lenient);
        assert!(std::ptr::eq(settings(), settings()));
        match (Settings::from_env(), init()) {
            (Ok(global), Ok(all)) => assert_eq!(global, all),
            (Ok(_), Err(e)) => assert!(parse_breaker_var(e.input()).is_some(), "{e}"),
            (Err(global), all) => {
                assert_eq!(all, Err(global.clone()));
                assert_eq!(errors.first(), Some(&global));
            }
        }
    }

    // --- names -----------------------------------------------------------------------------

    #[test]
    fn breaker_names() {
        for good in ["tier1_mcp", "ZOHO", "_private", "a", "a1_b2", "x__y_"] {
            assert_eq!(validate_name(good), Ok(()), "{good:?}");
        }
        let bad: [(&str, &str); 7] = [
            ("", "must not be empty"),
            ("1tier", "must not start with a digit"),
            (
                "tier-1",
                "may contain only ASCII letters, digits and '_' (found '-')",
            ),
            (
                "tier 1",
                "may contain only ASCII letters, digits and '_' (found ' ')",
            ),
            (
                "café",
                "may contain only ASCII letters, digits and '_' (found 'é')",
            ),
            (
                "a.b",
                "may contain only ASCII letters, digits and '_' (found '.')",
            ),
            (
                "ｔｉｅｒ",
                "may contain only ASCII letters, digits and '_' (found 'ｔ')",
            ),
        ];
        for (name, reason) in bad {
            assert_eq!(validate_name(name), Err(reason.to_owned()), "{name:?}");
        }
    }

    // --- logging ---------------------------------------------------------------------------

    type Events = Arc<Mutex<Vec<(tracing::Level, String, BTreeMap<String, String>)>>>;

    struct Capture(Events);

    struct Fields(BTreeMap<String, String>);

    impl tracing::field::Visit for Fields {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut fields = Fields(BTreeMap::new());
            event.record(&mut fields);
            let meta = event.metadata();
            self.0
                .lock()
                .unwrap()
                .push((*meta.level(), meta.target().to_owned(), fields.0));
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn bad_variables_are_logged_at_error_level() {
        let (_, errors) = Settings::from_lookup_lenient(env(&[
            (CIRCUIT_BREAKER_FAILURE_THRESHOLD, "0"),
            (RETRY_JITTER_ENABLED, "maybe"),
        ]));
        let events = Events::default();
        tracing::subscriber::with_default(Capture(events.clone()), || log_invalid(&errors));
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 2);
        for ((level, target, fields), error) in events.iter().zip(&errors) {
            assert_eq!(*level, tracing::Level::ERROR);
            assert_eq!(target, "resilience");
            assert_eq!(fields["variable"], error.input());
            assert_eq!(fields["value"], error.value());
            assert_eq!(fields["error"], error.to_string());
            assert!(fields["message"].contains("built-in default"));
        }
        assert_eq!(events[0].2["variable"], CIRCUIT_BREAKER_FAILURE_THRESHOLD);
        assert_eq!(events[1].2["value"], "maybe");
    }
}
