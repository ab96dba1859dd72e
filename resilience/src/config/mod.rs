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
//! written in code (builder, attribute, or [`BreakerOptions`] and [`RetryOptions`] read from a
//! configuration file), the global variable, the built-in default. This module reads and parses
//! the variables; the builders apply the precedence.
//!
//! # Errors
//!
//! A variable that is set but whose value cannot work is an error,
//! [`ConfigError::InvalidEnv`], naming the variable and the value and saying what would work.
//! [`init`] returns it, for a service that wants to fail fast at start. Lazy use through
//! [`settings`] and the builders logs it once, at error level, and ignores that variable alone:
//! the next value in precedence applies to its setting, and every other variable still applies.
//!
//! # Rules between two settings
//!
//! Two rules tie settings together: `success_threshold <= half_open_max_calls` (or the circuit
//! could never close) and `base_delay <= max_delay`. A builder checks them on the values that
//! count. When they are broken and variables are among those values, the builder ignores the
//! fewest variables that mend the rule, logs each (naming the variable, its value, and the value
//! and origin of the other setting), and keeps every other variable. When ignoring either of two
//! variables would do:
//!
//! - a global variable is ignored before a per-breaker one: the breaker's own variable is the
//!   more deliberate word for it;
//! - then the bounded setting before its bound: `success_threshold` before
//!   `half_open_max_calls`, `base_delay` before `max_delay`. The bound is the safety limit (the
//!   probes a recovering service gets, the longest wait), so it is the one kept.
//!
//! So `CIRCUIT_BREAKER_SUCCESS_THRESHOLD=5` with `CIRCUIT_BREAKER_HALF_OPEN_CALLS=4` ignores the
//! success threshold (the default, 2, applies) and keeps 4 probes. When the values written in
//! code break a rule without any variable, building fails with [`ConfigError::InvalidSetting`]
//! naming the written setting.
//!
//! ```
//! use resilience::CircuitBreaker;
//!
//! let env = |var: &str| match var {
//!     // Below the default success threshold (2): the circuit could never close.
//!     "CIRCUIT_BREAKER_HALF_OPEN_CALLS" => Some("1".to_owned()),
//!     "CIRCUIT_BREAKER_FAILURE_THRESHOLD" => Some("10".to_owned()),
//!     _ => None,
//! };
//! let breaker = CircuitBreaker::builder("tier2_sdk").build_with_env(env)?;
//! assert_eq!(breaker.config().half_open_max_calls, 3); // ignored and logged: the default
//! assert_eq!(breaker.config().failure_threshold, 10); // still applies
//! # Ok::<(), resilience::ConfigError>(())
//! ```
//!
//! [`init`] reports such a combination as an error instead, naming the variable it would ignore
//! and, in the reason, the other value and where it comes from. It checks the variables as they
//! apply to each breaker: a breaker written in a `#[circuit_breaker]` attribute with the values
//! its attribute writes (`half_open_max_calls = 5` there accepts its
//! `CIRCUIT_BREAKER_<NAME>_SUCCESS_THRESHOLD=4`); the global variables, and any other breaker's
//! own variables, as for a breaker or policy that writes neither setting of the rule (values
//! set on a builder or in [`BreakerOptions`] are not known to `init`).
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

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::sync::LazyLock;
use std::time::Duration;

use crate::error::ConfigError;

mod env;
mod limits;
mod options;
mod overrides;
mod pair;
mod parse;
mod settings;
#[cfg(test)]
mod tests;

pub(crate) use env::*;
pub use limits::*;
pub use options::*;
pub use overrides::*;
pub(crate) use pair::*;
pub use parse::*;
pub use settings::*;

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
