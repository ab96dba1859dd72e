//! Reading variables from the process or a lookup, and what the builders share: where a
//! variable comes from, the errors for values written in code, the log of an ignored variable.

use super::*;

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

pub(crate) fn process_env(name: &str) -> Option<RawValue> {
    std::env::var_os(name).map(RawValue::from)
}

/// Parses `raw`, the value of `variable`; the error names both.
pub(super) fn check<T>(
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
pub(super) struct Reader<'a> {
    pub(super) lookup: &'a dyn Fn(&str) -> Option<RawValue>,
    pub(super) errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<RawValue>) -> Self {
        Reader {
            lookup,
            errors: Vec::new(),
        }
    }

    /// The parsed value; `None` when unset or bad (the error is recorded).
    pub(super) fn read<T>(
        &mut self,
        variable: &str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Option<T> {
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
pub(super) fn strict<T>((value, errors): (T, Vec<ConfigError>)) -> Result<T, ConfigError> {
    match errors.into_iter().next() {
        None => Ok(value),
        Some(first) => Err(first),
    }
}

/// Splits a per-breaker variable `CIRCUIT_BREAKER_<NAME>_<KEY>` into its non-empty name and its
/// key. `None` for anything else, the global variables included.
pub(super) fn parse_breaker_var(variable: &str) -> Option<(&str, BreakerKey)> {
    let rest = variable.strip_prefix(BREAKER_PREFIX)?;
    BreakerKey::ALL.into_iter().find_map(|key| {
        let name = rest.strip_suffix(key.suffix())?.strip_suffix('_')?;
        (!name.is_empty()).then_some((name, key))
    })
}

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

impl Env<'_> {
    /// The value of `variable`, as found.
    pub(crate) fn raw(&self, variable: &str) -> Option<RawValue> {
        match self {
            Env::Process => process_env(variable),
            Env::Lookup(lookup) => lookup(variable).map(RawValue::Text),
        }
    }

    /// The global settings, and the bad global variables not yet logged.
    pub(crate) fn globals(&self) -> (Settings, Vec<ConfigError>) {
        match self {
            // Errors of the process's global variables are logged by `settings()`, once.
            Env::Process => (*settings(), Vec::new()),
            Env::Lookup(lookup) => Settings::from_lookup_lenient(lookup),
        }
    }
}

/// The error for `setting = value`, written in code for `context`.
pub(crate) fn invalid(
    context: &str,
    setting: &'static str,
    value: String,
    reason: String,
) -> ConfigError {
    ConfigError::InvalidSetting {
        setting,
        value,
        reason,
        context: context.to_owned(),
    }
}

/// The error for a rule between two settings written in code (`first` must not exceed
/// `second`, say), each given as (setting, value, reason): blames the second when only it was
/// written (the first being a default), the first otherwise.
pub(crate) fn invalid_pair(
    written: &dyn Fn(&'static str) -> bool,
    context: &str,
    [first, second]: [(&'static str, String, String); 2],
) -> ConfigError {
    let (setting, value, reason) = if !written(first.0) && written(second.0) {
        second
    } else {
        first
    };
    invalid(context, setting, value, reason)
}

/// Logs an environment variable that is being ignored, once per variable and value.
pub(crate) fn log_ignored(context: &str, error: &ConfigError) {
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
        "ignoring an environment variable; its setting takes the next value in precedence"
    );
}
