//! Per-breaker variables, `CIRCUIT_BREAKER_<NAME>_<KEY>`.

use super::*;

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
        var.push_str(&env_name(name));
        var.push('_');
        var.push_str(suffix);
        var
    }

    /// Checks a value for this key with the rules of its global variable.
    pub(super) fn check(self, text: &str) -> Result<(), String> {
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

    pub(crate) fn read(
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

/// A name as it stands in an environment variable: upper-cased (ASCII letters only), each `:`
/// written `_` (`billing::zoho::get` reads `BILLING__ZOHO__GET`).
pub(crate) fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| if c == ':' { '_' } else { c.to_ascii_uppercase() })
        .collect()
}
