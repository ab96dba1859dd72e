//! The process-wide defaults ([`Settings`]) read from the global variables, and [`init`].

use super::*;

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
    pub(super) fn read(lookup: &dyn Fn(&str) -> Option<RawValue>) -> (Settings, Vec<ConfigError>) {
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

pub(super) static SETTINGS: LazyLock<Settings> = LazyLock::new(|| {
    let (settings, errors) = Settings::from_env_lenient();
    log_invalid(&errors);
    settings
});

pub(super) fn log_invalid(errors: &[ConfigError]) {
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
/// Also checks the rules between two settings (`success_threshold <= half_open_max_calls`,
/// `base_delay <= max_delay`) where variables set them, as the [module
/// documentation](crate::config#rules-between-two-settings) describes: a combination that a
/// builder would partly ignore is an error here, naming the variable that would be ignored and,
/// in the reason, the other setting's variable, written value or default and its value. A
/// breaker written in a `#[circuit_breaker]` attribute is judged with the values its attribute
/// writes: `half_open_max_calls = 5` there accepts `CIRCUIT_BREAKER_<NAME>_SUCCESS_THRESHOLD=4`.
///
/// Returns the global settings, or the first error: global variables first (in the order of
/// [`Settings::from_lookup_lenient`]), then the rules between the global variables (breaker,
/// then retry), then per-breaker variables sorted by variable name, then the rules between the
/// variables that apply to each breaker and the values written for it, by breaker name as the
/// variables spell it.
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
    let written = crate::sites::written_pairs();
    let written: Vec<WrittenPair<'_>> = written
        .iter()
        .map(|(name, values)| (name.as_str(), *values))
        .collect();
    init_with(
        std::env::vars_os().map(|(name, value)| (name.to_string_lossy().into_owned(), value)),
        &written,
    )
}

/// The values written in code for a breaker's `success_threshold` and `half_open_max_calls`.
pub(crate) type WrittenValues = (Option<u32>, Option<u32>);

/// A breaker's name and its [`WrittenValues`].
pub(crate) type WrittenPair<'a> = (&'a str, WrittenValues);

/// [`init_with`] for breakers that write neither setting of the rule between two settings.
#[cfg(test)]
pub(crate) fn init_from<V: Into<RawValue>>(
    vars: impl IntoIterator<Item = (String, V)>,
) -> Result<Settings, ConfigError> {
    init_with(vars, &[])
}

/// [`init`] on the given variables instead of the process environment, and the breakers whose
/// values written in code are known (`written`): each of their variables is judged with those
/// values. When a variable appears twice, the last value counts.
pub(crate) fn init_with<V: Into<RawValue>>(
    vars: impl IntoIterator<Item = (String, V)>,
    written: &[WrittenPair<'_>],
) -> Result<Settings, ConfigError> {
    let vars: BTreeMap<String, RawValue> = vars
        .into_iter()
        .map(|(name, value)| (name, value.into()))
        .collect();
    let raw = |name: &str| vars.get(name).cloned();
    let settings = strict(Settings::read(&raw))?;
    first_broken_rule(breaker_rule(&raw, None, (None, None)))?;
    first_broken_rule(retry_rule(&raw, (None, None)))?;
    // The map is sorted by variable name.
    let mut names = BTreeSet::new();
    for (variable, raw) in &vars {
        if let Some((name, key)) = parse_breaker_var(variable) {
            check(variable, raw.clone(), |text| key.check(text))?;
            if matches!(
                key,
                BreakerKey::SuccessThreshold | BreakerKey::HalfOpenCalls
            ) {
                names.insert(name);
            }
        }
    }
    // The breakers of each name as variables spell it: those written in attributes with their
    // values, or else one that writes neither setting of the rule.
    let mut breakers: BTreeMap<String, Vec<WrittenValues>> = names
        .into_iter()
        .map(|name| (name.to_owned(), Vec::new()))
        .collect();
    for &(name, values) in written {
        breakers.entry(env_name(name)).or_default().push(values);
    }
    for (name, written) in &breakers {
        if written.is_empty() {
            first_broken_rule(breaker_rule(&raw, Some(name), (None, None)))?;
        }
        for &values in written {
            first_broken_rule(breaker_rule(&raw, Some(name), values))?;
        }
    }
    for (variable, raw) in &vars {
        if let Some((_, key)) = LimitKey::parse_var(variable) {
            check(variable, raw.clone(), |text| key.check(text))?;
        }
    }
    Ok(settings)
}

/// The first variable that the rule would have ignored, as an error.
fn first_broken_rule<T: PartialOrd + Clone>(rule: PairRule<T>) -> Result<(), ConfigError> {
    let (_, _, ignored) = settle(&rule);
    match ignored.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}
