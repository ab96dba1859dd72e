//! Settings written in a configuration file: [`BreakerOptions`] and [`RetryOptions`].

use super::*;

/// The settings of one circuit breaker as a service writes them in its own configuration file;
/// `None` where the file leaves a setting out.
///
/// Options hold *written* values, as the builder methods or the attribute take them: give them
/// to [`CircuitBreakerBuilder::options`](crate::CircuitBreakerBuilder::options) and they are
/// resolved with the same precedence and the same rules as values written in code. The
/// environment still has its say when the breaker is built: a per-breaker variable
/// `CIRCUIT_BREAKER_<NAME>_<KEY>` overrides a value from the file, a global variable applies to
/// a setting the file leaves out, and the built-in default to the rest.
///
/// With the `serde` feature they implement `Deserialize`, so they can sit in any format serde
/// reads (TOML, JSON, YAML, through figment or config-rs, ...):
///
/// - the keys are the setting names: `failure_threshold`, `recovery_timeout`,
///   `half_open_max_calls`, `success_threshold`, `window_size`, `minimum_calls`,
///   `failure_rate_threshold`; any other key is an error;
/// - `recovery_timeout` is a duration: a string with a unit as in the variables (`"60s"`,
///   `"500ms"`, `"1m 30s"`), or a number of seconds (`60`, `1.5`);
/// - each value is checked when the file is read, and so is the rule
///   `success_threshold <= half_open_max_calls` when the file gives both: a bad value is an
///   error naming the key and the value (`invalid failure_threshold = 0: must be at least 1`).
///   A rule between a value from the file and a setting it leaves out is checked when the
///   breaker is built, against the value the environment or the default gives that setting,
///   as for a value written in code.
///
/// ```
/// # #[cfg(feature = "serde")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use resilience::CircuitBreaker;
/// use resilience::config::BreakerOptions;
///
/// let options: BreakerOptions = serde_json::from_str(
///     r#"{ "failure_threshold": 3, "recovery_timeout": "30s" }"#,
/// )?;
/// let breaker = CircuitBreaker::builder("tier1_mcp")
///     .options(&options)
///     .ignore_env()
///     .build()?;
/// assert_eq!(breaker.config().failure_threshold, 3);
/// assert_eq!(breaker.config().recovery_timeout, Duration::from_secs(30));
/// assert_eq!(breaker.config().half_open_max_calls, 3); // left out: the default
///
/// let err = serde_json::from_str::<BreakerOptions>(r#"{ "failure_threshold": 0 }"#).unwrap_err();
/// assert!(err.to_string().starts_with("invalid failure_threshold = 0: must be at least 1"));
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "serde"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(try_from = "de::RawBreakerOptions")
)]
#[non_exhaustive]
pub struct BreakerOptions {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: Option<u32>,
    /// How long the breaker stays open before probing.
    pub recovery_timeout: Option<Duration>,
    /// Probe calls let through at once while half-open.
    pub half_open_max_calls: Option<u32>,
    /// Successful probes that close the breaker.
    pub success_threshold: Option<u32>,
    /// Size of the sliding window of latest calls.
    pub window_size: Option<u32>,
    /// Calls the window must hold before the failure-rate rule may fire.
    pub minimum_calls: Option<u32>,
    /// The failure-rate rule's threshold (greater than 0.0, at most 1.0).
    pub failure_rate_threshold: Option<f64>,
}

/// The settings of a retry policy as a service writes them in its own configuration file;
/// `None` where the file leaves a setting out.
///
/// Like [`BreakerOptions`], these are written values: give them to
/// [`RetryPolicyBuilder::options`](crate::RetryPolicyBuilder::options) and they are resolved
/// as values written in code are, the environment (`MAX_RETRY_ATTEMPTS`, `RETRY_*`) applying to
/// the settings the file leaves out.
///
/// With the `serde` feature they implement `Deserialize`: the keys are `max_attempts`,
/// `base_delay`, `max_delay`, `exponential_base`, `jitter` and `budget` (any other is an
/// error); the three durations are strings with a unit (`"500ms"`, `"2m"`) or numbers of
/// seconds; each value is checked when the file is read, with `base_delay <= max_delay` when the
/// file gives both, and a bad value is an error naming the key and the value.
///
/// ```
/// # #[cfg(feature = "serde")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use resilience::RetryPolicy;
/// use resilience::config::RetryOptions;
///
/// let options: RetryOptions =
///     serde_json::from_str(r#"{ "max_attempts": 5, "base_delay": "250ms", "max_delay": 10 }"#)?;
/// let policy = RetryPolicy::builder().options(&options).ignore_env().build()?;
/// assert_eq!(policy.max_attempts, 5);
/// assert_eq!(policy.base_delay, Duration::from_millis(250));
/// assert_eq!(policy.max_delay, Duration::from_secs(10));
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "serde"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(try_from = "de::RawRetryOptions")
)]
#[non_exhaustive]
pub struct RetryOptions {
    /// Calls in all, the first included.
    pub max_attempts: Option<u32>,
    /// The wait after the first failed attempt.
    pub base_delay: Option<Duration>,
    /// The longest wait.
    pub max_delay: Option<Duration>,
    /// The growth of the waits.
    pub exponential_base: Option<f64>,
    /// Whether each wait is multiplied by a random factor in [0.5, 1.5).
    pub jitter: Option<bool>,
    /// Give up once the next wait would end later than this after the first call.
    pub budget: Option<Duration>,
}

#[cfg(feature = "serde")]
mod de {
    //! Reading options: every value is first taken as whatever scalar the file holds, then
    //! converted and checked knowing its key, so that an error names the key and the value.

    use std::fmt;

    use serde::de::{self, Deserializer, Visitor};

    use super::*;

    /// A scalar as found in the file.
    #[derive(Debug, Clone, PartialEq)]
    pub(super) enum Raw {
        Int(i128),
        Float(f64),
        Text(String),
        Bool(bool),
    }

    impl fmt::Display for Raw {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Raw::Int(n) => write!(f, "{n}"),
                Raw::Float(x) => write!(f, "{x}"),
                Raw::Text(text) => write!(f, "{text:?}"),
                Raw::Bool(b) => write!(f, "{b}"),
            }
        }
    }

    impl<'de> de::Deserialize<'de> for Raw {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct RawVisitor;
            impl Visitor<'_> for RawVisitor {
                type Value = Raw;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a number, a string or a boolean")
                }
                fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
                    Ok(Raw::Bool(v))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
                    Ok(Raw::Int(v.into()))
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
                    Ok(Raw::Int(v.into()))
                }
                fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
                    Ok(Raw::Int(v))
                }
                fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
                    Ok(Raw::Int(i128::try_from(v).unwrap_or(i128::MAX)))
                }
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
                    Ok(Raw::Float(v))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
                    Ok(Raw::Text(v.to_owned()))
                }
            }
            deserializer.deserialize_any(RawVisitor)
        }
    }

    /// The error for `key = raw`.
    fn invalid(key: &'static str, raw: &Raw, reason: impl Into<String>) -> ConfigError {
        ConfigError::InvalidSetting {
            setting: key,
            value: raw.to_string(),
            reason: reason.into(),
            context: String::new(),
        }
    }

    /// A whole number from 1 to `max` (also as a string, as the variables take it).
    fn count(key: &'static str, raw: Option<Raw>, max: u32) -> Result<Option<u32>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let parsed = match &raw {
            Raw::Int(n) if *n < 1 => Err("must be at least 1".to_owned()),
            Raw::Int(n) => u32::try_from(*n)
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("too large; at most {max}")),
            Raw::Text(text) => parse_count(text, max),
            Raw::Float(_) | Raw::Bool(_) => Err("expected a whole number".to_owned()),
        };
        parsed
            .map(Some)
            .map_err(|reason| invalid(key, &raw, reason))
    }

    /// A duration: a string as the variables take it, or a number of seconds.
    fn duration(key: &'static str, raw: Option<Raw>) -> Result<Option<Duration>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let parsed = match &raw {
            Raw::Text(text) => parse_duration(text),
            Raw::Int(n) if *n < 0 => Err("must not be negative".to_owned()),
            Raw::Int(n) => u64::try_from(*n)
                .ok()
                .map(Duration::from_secs)
                .filter(|d| *d <= MAX_DURATION)
                .ok_or_else(too_long),
            Raw::Float(x) if *x < 0.0 => Err("must not be negative".to_owned()),
            Raw::Float(x) => match Duration::try_from_secs_f64(*x) {
                Ok(d) if d <= MAX_DURATION => Ok(d),
                Ok(_) => Err(too_long()),
                Err(_) if x.is_finite() => Err(too_long()),
                Err(_) => Err(format!(
                    "must be a finite number; expected {DURATION_FORMATS}"
                )),
            },
            Raw::Bool(_) => Err(format!("expected {DURATION_FORMATS}")),
        };
        parsed
            .map(Some)
            .map_err(|reason| invalid(key, &raw, reason))
    }

    /// A number, checked against its range with the other values.
    fn number(key: &'static str, raw: Option<Raw>) -> Result<Option<f64>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let parsed = match &raw {
            Raw::Int(n) => Ok(*n as f64),
            Raw::Float(x) => Ok(*x),
            Raw::Text(text) => text
                .trim()
                .parse::<f64>()
                .map_err(|_| "expected a number".to_owned()),
            Raw::Bool(_) => Err("expected a number".to_owned()),
        };
        parsed
            .map(Some)
            .map_err(|reason| invalid(key, &raw, reason))
    }

    /// A boolean (also as a string, as the variables take it: `"on"`, `"0"`, ...).
    fn boolean(key: &'static str, raw: Option<Raw>) -> Result<Option<bool>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let parsed = match &raw {
            Raw::Bool(b) => Ok(*b),
            Raw::Text(text) => parse_bool(text),
            Raw::Int(_) | Raw::Float(_) => Err("expected true or false".to_owned()),
        };
        parsed
            .map(Some)
            .map_err(|reason| invalid(key, &raw, reason))
    }

    /// [`BreakerOptions`] as found in the file.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct RawBreakerOptions {
        failure_threshold: Option<Raw>,
        recovery_timeout: Option<Raw>,
        half_open_max_calls: Option<Raw>,
        success_threshold: Option<Raw>,
        window_size: Option<Raw>,
        minimum_calls: Option<Raw>,
        failure_rate_threshold: Option<Raw>,
    }

    impl TryFrom<RawBreakerOptions> for BreakerOptions {
        type Error = ConfigError;

        fn try_from(raw: RawBreakerOptions) -> Result<Self, ConfigError> {
            let options = BreakerOptions {
                failure_threshold: count(
                    "failure_threshold",
                    raw.failure_threshold,
                    MAX_FAILURE_THRESHOLD,
                )?,
                recovery_timeout: duration("recovery_timeout", raw.recovery_timeout)?,
                half_open_max_calls: count(
                    "half_open_max_calls",
                    raw.half_open_max_calls,
                    MAX_HALF_OPEN_CALLS,
                )?,
                success_threshold: count(
                    "success_threshold",
                    raw.success_threshold,
                    MAX_HALF_OPEN_CALLS,
                )?,
                window_size: count("window_size", raw.window_size, MAX_WINDOW_SIZE)?,
                minimum_calls: count("minimum_calls", raw.minimum_calls, MAX_WINDOW_SIZE)?,
                failure_rate_threshold: number(
                    "failure_rate_threshold",
                    raw.failure_rate_threshold,
                )?,
            };
            crate::breaker::check_options(&options)?;
            Ok(options)
        }
    }

    /// [`RetryOptions`] as found in the file.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct RawRetryOptions {
        max_attempts: Option<Raw>,
        base_delay: Option<Raw>,
        max_delay: Option<Raw>,
        exponential_base: Option<Raw>,
        jitter: Option<Raw>,
        budget: Option<Raw>,
    }

    impl TryFrom<RawRetryOptions> for RetryOptions {
        type Error = ConfigError;

        fn try_from(raw: RawRetryOptions) -> Result<Self, ConfigError> {
            let options = RetryOptions {
                max_attempts: count("max_attempts", raw.max_attempts, MAX_RETRY_ATTEMPTS)?,
                base_delay: duration("base_delay", raw.base_delay)?,
                max_delay: duration("max_delay", raw.max_delay)?,
                exponential_base: number("exponential_base", raw.exponential_base)?,
                jitter: boolean("jitter", raw.jitter)?,
                budget: duration("budget", raw.budget)?,
            };
            crate::retry::check_options(&options)?;
            Ok(options)
        }
    }
}
