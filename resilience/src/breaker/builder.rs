//! The settings of a breaker ([`CircuitBreakerConfig`]) and its builder, which resolves them
//! from code and the environment.

use super::*;

/// The resolved, validated settings of one circuit breaker.
///
/// Made by [`CircuitBreakerBuilder`]; read it back with [`CircuitBreaker::config`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CircuitBreakerConfig {
    /// Consecutive failures that open a closed breaker. Default 5.
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before it lets probes through. Default 60 s.
    pub recovery_timeout: Duration,
    /// How many probe calls a half-open breaker lets run at once. Default 3.
    pub half_open_max_calls: u32,
    /// Successful probes that close a half-open breaker. Default 2.
    pub success_threshold: u32,
    /// How many of the latest calls the sliding window keeps (for `total_calls`, `error_rate`
    /// and the failure-rate rule). Default 100.
    pub window_size: u32,
    /// Calls the window must hold before the failure-rate rule may fire. Default 20.
    pub minimum_calls: u32,
    /// The failure-rate rule: open when the window's error rate reaches this (0.0 exclusive to
    /// 1.0 inclusive). `None` (the default) turns the rule off.
    pub failure_rate_threshold: Option<f64>,
}

impl Default for CircuitBreakerConfig {
    /// The built-in defaults (the guide's production tuning), ignoring the environment.
    fn default() -> Self {
        let b = BreakerSettings::BUILT_IN;
        Self {
            failure_threshold: b.failure_threshold,
            recovery_timeout: b.recovery_timeout,
            half_open_max_calls: b.half_open_max_calls,
            success_threshold: b.success_threshold,
            window_size: Self::DEFAULT_WINDOW_SIZE,
            minimum_calls: Self::DEFAULT_MINIMUM_CALLS,
            failure_rate_threshold: None,
        }
    }
}

impl CircuitBreakerConfig {
    pub(super) const DEFAULT_WINDOW_SIZE: u32 = 100;
    pub(super) const DEFAULT_MINIMUM_CALLS: u32 = 20;

    /// Checks every rule. `written` says whether a setting was written in code rather than
    /// left to its default, so that a rule broken between the two blames the written one.
    pub(super) fn validate(
        &self,
        context: &str,
        written: impl Fn(&'static str) -> bool,
    ) -> Result<(), ConfigError> {
        let err = |setting, value, reason| config::invalid(context, setting, value, reason);
        let at_least_one = |setting, value: u32| match value {
            0 => Err(err(setting, "0".into(), "must be at least 1".into())),
            _ => Ok(()),
        };
        let at_most = |setting, value: u32, max: u32, why: &str| match value > max {
            true => Err(err(
                setting,
                value.to_string(),
                format!("must be at most {max}{why}"),
            )),
            false => Ok(()),
        };
        at_least_one("failure_threshold", self.failure_threshold)?;
        at_most(
            "failure_threshold",
            self.failure_threshold,
            config::MAX_FAILURE_THRESHOLD,
            "",
        )?;
        if self.recovery_timeout.is_zero() {
            let reason = "must be greater than zero".into();
            return Err(err("recovery_timeout", "0s".into(), reason));
        }
        if self.recovery_timeout > config::MAX_DURATION {
            let value = format!("{:?}", self.recovery_timeout);
            return Err(err(
                "recovery_timeout",
                value,
                "must be at most 365 days".into(),
            ));
        }
        at_least_one("half_open_max_calls", self.half_open_max_calls)?;
        at_most(
            "half_open_max_calls",
            self.half_open_max_calls,
            config::MAX_HALF_OPEN_CALLS,
            "",
        )?;
        at_least_one("success_threshold", self.success_threshold)?;
        if self.success_threshold > self.half_open_max_calls {
            let (success, probes) = (self.success_threshold, self.half_open_max_calls);
            return Err(config::invalid_pair(
                &written,
                context,
                [
                    (
                        "success_threshold",
                        success.to_string(),
                        format!(
                            "must be at most {probes} (half_open_max_calls), or the circuit \
                             could never close"
                        ),
                    ),
                    (
                        "half_open_max_calls",
                        probes.to_string(),
                        format!(
                            "must be at least {success} (success_threshold), or the circuit \
                             could never close"
                        ),
                    ),
                ],
            ));
        }
        at_least_one("window_size", self.window_size)?;
        at_most("window_size", self.window_size, config::MAX_WINDOW_SIZE, "")?;
        at_least_one("minimum_calls", self.minimum_calls)?;
        at_most(
            "minimum_calls",
            self.minimum_calls,
            self.window_size,
            " (window_size), or the failure-rate rule could never fire",
        )?;
        match self.failure_rate_threshold {
            Some(rate) if !(rate > 0.0 && rate <= 1.0) => Err(err(
                "failure_rate_threshold",
                rate.to_string(),
                "must be greater than 0.0 and at most 1.0".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Builds a [`CircuitBreaker`]: every setting is optional.
///
/// Where a setting comes from, highest first: the per-breaker environment variable
/// `CIRCUIT_BREAKER_<NAME>_<KEY>`, the value set on this builder, the global environment variable
/// (`CIRCUIT_BREAKER_FAILURE_THRESHOLD`, ...), the built-in default. See [`crate::config`].
///
/// ```
/// use std::time::Duration;
/// use resilience::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("zoho_mcp")
///     .failure_threshold(5)
///     .recovery_timeout(Duration::from_secs(60))
///     .half_open_max_calls(3)
///     .success_threshold(2)
///     .build()?;
/// assert_eq!(breaker.name(), "zoho_mcp");
/// # Ok::<(), resilience::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct CircuitBreakerBuilder {
    pub(super) name: Cow<'static, str>,
    pub(super) failure_threshold: Option<u32>,
    pub(super) recovery_timeout: Option<Duration>,
    pub(super) half_open_max_calls: Option<u32>,
    pub(super) success_threshold: Option<u32>,
    pub(super) window_size: Option<u32>,
    pub(super) minimum_calls: Option<u32>,
    pub(super) failure_rate_threshold: Option<f64>,
    pub(super) read_env: bool,
}

impl CircuitBreakerBuilder {
    pub(super) fn new(name: Cow<'static, str>) -> Self {
        Self {
            name,
            failure_threshold: None,
            recovery_timeout: None,
            half_open_max_calls: None,
            success_threshold: None,
            window_size: None,
            minimum_calls: None,
            failure_rate_threshold: None,
            read_env: true,
        }
    }

    /// The breaker's name, as given to [`CircuitBreaker::builder`].
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn into_name(self) -> Cow<'static, str> {
        self.name
    }

    /// Consecutive failures that open the breaker (at least 1). Default 5.
    pub fn failure_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = Some(n);
        self
    }

    /// How long the breaker stays open before probing (greater than zero). Default 60 s.
    pub fn recovery_timeout(mut self, d: Duration) -> Self {
        self.recovery_timeout = Some(d);
        self
    }

    /// Probe calls allowed in flight at once while half-open (at least 1). Default 3.
    pub fn half_open_max_calls(mut self, n: u32) -> Self {
        self.half_open_max_calls = Some(n);
        self
    }

    /// Successful probes that close the breaker (1 to `half_open_max_calls`). Default 2.
    pub fn success_threshold(mut self, n: u32) -> Self {
        self.success_threshold = Some(n);
        self
    }

    /// Size of the sliding window of latest calls behind `total_calls`, `error_rate` and the
    /// failure-rate rule (1 to 10 000). Default 100.
    pub fn window_size(mut self, n: u32) -> Self {
        self.window_size = Some(n);
        self
    }

    /// Calls the window must hold before the failure-rate rule may fire (1 to `window_size`).
    /// Default 20.
    pub fn minimum_calls(mut self, n: u32) -> Self {
        self.minimum_calls = Some(n);
        self
    }

    /// Turns on the failure-rate rule: the breaker also opens when the error rate over the
    /// window reaches `rate` (greater than 0.0, at most 1.0) with at least `minimum_calls` calls
    /// in the window. The rule is checked whenever a recorded call, success or failure, leaves
    /// the window at `minimum_calls` or more: `F, F, F, S` with `minimum_calls(4)` and a rate
    /// of 0.5 opens on the success.
    pub fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.failure_rate_threshold = Some(rate);
        self
    }

    /// Sets every value that `options` holds, as the matching methods would; the values it
    /// leaves out stay as they are. Options typically come from a configuration file (see
    /// [`BreakerOptions`](config::BreakerOptions)); the environment still applies when the
    /// breaker is built.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::CircuitBreaker;
    /// use resilience::config::BreakerOptions;
    ///
    /// let mut options = BreakerOptions::default();
    /// options.recovery_timeout = Some(Duration::from_secs(30));
    /// let breaker = CircuitBreaker::builder("tier1_mcp")
    ///     .failure_threshold(3)
    ///     .options(&options)
    ///     .ignore_env()
    ///     .build()?;
    /// assert_eq!(breaker.config().failure_threshold, 3);
    /// assert_eq!(breaker.config().recovery_timeout, Duration::from_secs(30));
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn options(mut self, options: &config::BreakerOptions) -> Self {
        let o = options;
        self.failure_threshold = o.failure_threshold.or(self.failure_threshold);
        self.recovery_timeout = o.recovery_timeout.or(self.recovery_timeout);
        self.half_open_max_calls = o.half_open_max_calls.or(self.half_open_max_calls);
        self.success_threshold = o.success_threshold.or(self.success_threshold);
        self.window_size = o.window_size.or(self.window_size);
        self.minimum_calls = o.minimum_calls.or(self.minimum_calls);
        self.failure_rate_threshold = o.failure_rate_threshold.or(self.failure_rate_threshold);
        self
    }

    pub(super) fn tuning(
        self,
        failure: u32,
        recovery_secs: u64,
        half_open: u32,
        success: u32,
    ) -> Self {
        self.failure_threshold(failure)
            .recovery_timeout(Duration::from_secs(recovery_secs))
            .half_open_max_calls(half_open)
            .success_threshold(success)
    }

    /// The guide's aggressive tuning (fast failure detection): failure_threshold 3,
    /// recovery_timeout 30 s, half_open_max_calls 2, success_threshold 2.
    pub fn aggressive(self) -> Self {
        self.tuning(3, 30, 2, 2)
    }

    /// The guide's conservative tuning (tolerant of transients): failure_threshold 10,
    /// recovery_timeout 120 s, half_open_max_calls 5, success_threshold 3.
    pub fn conservative(self) -> Self {
        self.tuning(10, 120, 5, 3)
    }

    /// The guide's production recommendation, the built-in defaults written out:
    /// failure_threshold 5, recovery_timeout 60 s, half_open_max_calls 3, success_threshold 2.
    pub fn production(self) -> Self {
        self.tuning(5, 60, 3, 2)
    }

    /// Ignores the environment: only the values set here and the built-in defaults count.
    pub fn ignore_env(mut self) -> Self {
        self.read_env = false;
        self
    }

    /// Resolves and validates the settings, reading the process environment (unless
    /// [`ignore_env`](Self::ignore_env) was called), and builds the breaker.
    ///
    /// An environment variable that does not parse, or that breaks the rule
    /// `success_threshold <= half_open_max_calls` with the other values, is logged at error
    /// level and ignored alone: its setting takes the next value in precedence, and every other
    /// variable still applies (see [`crate::config#rules-between-two-settings`] for which
    /// variable is ignored when two break the rule together). Call [`crate::init`] at start-up
    /// to fail fast on such variables instead. An invalid value set in code is an error.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        self.build_in(None)
    }

    /// Like [`build`](Self::build), but reads the variables through `lookup` instead of the
    /// process environment (global variables included): for tests, or another source of
    /// configuration.
    ///
    /// ```
    /// use resilience::CircuitBreaker;
    ///
    /// let env = |var: &str| {
    ///     (var == "CIRCUIT_BREAKER_TIER1_MCP_FAILURE_THRESHOLD").then(|| "8".to_string())
    /// };
    /// let breaker = CircuitBreaker::builder("tier1_mcp")
    ///     .failure_threshold(5)
    ///     .build_with_env(env)?;
    /// assert_eq!(breaker.config().failure_threshold, 8); // the per-breaker variable wins
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn build_with_env(
        self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<CircuitBreaker, ConfigError> {
        let config = self.resolve_with(Env::Lookup(&lookup))?;
        Ok(CircuitBreaker::from_parts(self.name.into(), config, None))
    }

    pub(crate) fn build_in(self, parent: Option<Arc<Hub>>) -> Result<CircuitBreaker, ConfigError> {
        let config = self.resolve()?;
        Ok(CircuitBreaker::from_parts(self.name.into(), config, parent))
    }

    /// The resolved configuration, from the process environment.
    pub(crate) fn resolve(&self) -> Result<CircuitBreakerConfig, ConfigError> {
        self.resolve_with(Env::Process)
    }

    /// Applies the precedence rule.
    pub(super) fn resolve_with(&self, env: Env<'_>) -> Result<CircuitBreakerConfig, ConfigError> {
        if let Err(reason) = config::validate_name(&self.name) {
            return Err(ConfigError::InvalidSetting {
                setting: "name",
                value: format!("{:?}", self.name),
                reason,
                context: String::new(),
            });
        }
        let context = format!("circuit breaker '{}'", self.name);
        let written = |setting: &'static str| self.is_written(setting);
        if !self.read_env {
            let code_only = self.apply(&BreakerSettings::BUILT_IN, &BreakerOverrides::default());
            code_only.validate(&context, written)?;
            return Ok(code_only);
        }
        let raw = |variable: &str| env.raw(variable);
        let (globals, mut ignored) = env.globals();
        let (overrides, errors) = BreakerOverrides::read(&self.name, &raw);
        ignored.extend(errors);
        let mut config = self.apply(&globals.breaker, &overrides);
        // Only the variables that break the rule between the two settings are ignored.
        let rule = config::breaker_rule(
            &raw,
            Some(&self.name),
            (self.success_threshold, self.half_open_max_calls),
        );
        let (success, probes, errors) = config::settle(&rule);
        ignored.extend(errors);
        config.success_threshold = success;
        config.half_open_max_calls = probes;
        // Every value from a variable keeps its rules now: what is left is the code's.
        config.validate(&context, written)?;
        for error in &ignored {
            config::log_ignored(&context, error);
        }
        Ok(config)
    }

    /// Whether `setting` was written on this builder.
    fn is_written(&self, setting: &str) -> bool {
        match setting {
            "failure_threshold" => self.failure_threshold.is_some(),
            "recovery_timeout" => self.recovery_timeout.is_some(),
            "half_open_max_calls" => self.half_open_max_calls.is_some(),
            "success_threshold" => self.success_threshold.is_some(),
            "window_size" => self.window_size.is_some(),
            "minimum_calls" => self.minimum_calls.is_some(),
            "failure_rate_threshold" => self.failure_rate_threshold.is_some(),
            _ => false,
        }
    }

    pub(super) fn apply(
        &self,
        globals: &BreakerSettings,
        env: &BreakerOverrides,
    ) -> CircuitBreakerConfig {
        let window_size = self
            .window_size
            .unwrap_or(CircuitBreakerConfig::DEFAULT_WINDOW_SIZE);
        CircuitBreakerConfig {
            failure_threshold: env
                .failure_threshold
                .or(self.failure_threshold)
                .unwrap_or(globals.failure_threshold),
            recovery_timeout: env
                .recovery_timeout
                .or(self.recovery_timeout)
                .unwrap_or(globals.recovery_timeout),
            half_open_max_calls: env
                .half_open_max_calls
                .or(self.half_open_max_calls)
                .unwrap_or(globals.half_open_max_calls),
            success_threshold: env
                .success_threshold
                .or(self.success_threshold)
                .unwrap_or(globals.success_threshold),
            window_size,
            minimum_calls: self
                .minimum_calls
                .unwrap_or(CircuitBreakerConfig::DEFAULT_MINIMUM_CALLS.min(window_size)),
            failure_rate_threshold: self.failure_rate_threshold,
        }
    }
}

/// Checks what `options` decide on their own: each value's range, and the rules between two
/// settings that they both give. A setting they leave out takes a value that breaks no rule.
#[cfg(feature = "serde")]
pub(crate) fn check_options(options: &config::BreakerOptions) -> Result<(), ConfigError> {
    let o = options;
    let b = BreakerSettings::BUILT_IN;
    let config = CircuitBreakerConfig {
        failure_threshold: o.failure_threshold.unwrap_or(b.failure_threshold),
        recovery_timeout: o.recovery_timeout.unwrap_or(b.recovery_timeout),
        half_open_max_calls: o.half_open_max_calls.unwrap_or(config::MAX_HALF_OPEN_CALLS),
        success_threshold: o.success_threshold.unwrap_or(1),
        window_size: o.window_size.unwrap_or(config::MAX_WINDOW_SIZE),
        minimum_calls: o.minimum_calls.unwrap_or(1),
        failure_rate_threshold: o.failure_rate_threshold,
    };
    let written = |setting: &'static str| match setting {
        "half_open_max_calls" => o.half_open_max_calls.is_some(),
        "success_threshold" => o.success_threshold.is_some(),
        _ => true,
    };
    config.validate("", written)
}
