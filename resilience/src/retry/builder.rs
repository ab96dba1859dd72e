//! [`RetryPolicyBuilder`], and the rules a policy's settings keep.

use super::*;

/// Builds a [`RetryPolicy`]. Where a value comes from, highest first: set here, the global
/// environment variable, the built-in default.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct RetryPolicyBuilder {
    max_attempts: Option<u32>,
    base_delay: Option<Duration>,
    max_delay: Option<Duration>,
    exponential_base: Option<f64>,
    jitter: Option<bool>,
    budget: Option<Duration>,
    seed: Option<u64>,
    ignore_env: bool,
    operation: Option<Cow<'static, str>>,
}

impl RetryPolicyBuilder {
    /// Calls in all, the first included (1 to 1 000). Default 3.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// The wait after the first failed attempt (at most `max_delay`). Default 1 s.
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = Some(d);
        self
    }

    /// The longest wait (at most 365 days). Default 60 s.
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = Some(d);
        self
    }

    /// The growth of the waits (at least 1.0). Default 2.0.
    pub fn exponential_base(mut self, base: f64) -> Self {
        self.exponential_base = Some(base);
        self
    }

    /// Whether to multiply each wait by a random factor in [0.5, 1.5). Default true.
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = Some(on);
        self
    }

    /// Sets every value that `options` holds, as the matching methods would; the values it
    /// leaves out stay as they are. Options typically come from a configuration file (see
    /// [`RetryOptions`]); the environment still applies when the policy is built.
    pub fn options(mut self, options: &RetryOptions) -> Self {
        let o = options;
        self.max_attempts = o.max_attempts.or(self.max_attempts);
        self.base_delay = o.base_delay.or(self.base_delay);
        self.max_delay = o.max_delay.or(self.max_delay);
        self.exponential_base = o.exponential_base.or(self.exponential_base);
        self.jitter = o.jitter.or(self.jitter);
        self.budget = o.budget.or(self.budget);
        self
    }

    /// Gives up once the next wait would end more than `budget` after the first call.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Draws the jitter factors from a generator seeded with `seed`, so that every execution
    /// waits the same, reproducible sequence (for tests).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Names the operation retried: the `operation` field of the retry events and the label of
    /// the retry counters of [`crate::metrics`]. `#[retry]` names it after the function.
    pub fn operation(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.operation = Some(name.into());
        self
    }

    /// Ignores the environment: only the values set here and the built-in defaults count.
    pub fn ignore_env(mut self) -> Self {
        self.ignore_env = true;
        self
    }

    /// Resolves and validates the policy. An environment variable that does not parse, or that
    /// breaks the rule `base_delay <= max_delay` with the other values, is logged once and
    /// ignored alone: its setting takes the next value in precedence, and every other variable
    /// still applies (see [`crate::config#rules-between-two-settings`]). An invalid value set
    /// here is an error.
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        self.resolve(Env::Process)
    }

    /// Like [`build`](Self::build), reading variables through `lookup` instead of the process
    /// environment.
    pub fn build_with_env(
        self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<RetryPolicy, ConfigError> {
        self.resolve(Env::Lookup(&lookup))
    }

    fn resolve(&self, env: Env<'_>) -> Result<RetryPolicy, ConfigError> {
        let written = |setting: &'static str| match setting {
            "base_delay" => self.base_delay.is_some(),
            "max_delay" => self.max_delay.is_some(),
            _ => false,
        };
        if self.ignore_env {
            let code_only = self.apply(&RetrySettings::BUILT_IN);
            code_only.validate(&written)?;
            return Ok(code_only);
        }
        let raw = |variable: &str| env.raw(variable);
        let (globals, mut ignored) = env.globals();
        let mut policy = self.apply(&globals.retry);
        // A variable's own range is checked when it is read; only the rule between the two
        // delays can be broken by a variable, and only the variables that break it are ignored.
        let rule = config::retry_rule(&raw, (self.base_delay, self.max_delay));
        let (base_delay, max_delay, errors) = config::settle(&rule);
        ignored.extend(errors);
        policy.base_delay = base_delay;
        policy.max_delay = max_delay;
        policy.validate(&written)?;
        for error in &ignored {
            config::log_ignored("retry policy", error);
        }
        Ok(policy)
    }

    fn apply(&self, defaults: &RetrySettings) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.unwrap_or(defaults.max_attempts),
            base_delay: self.base_delay.unwrap_or(defaults.base_delay),
            max_delay: self.max_delay.unwrap_or(defaults.max_delay),
            exponential_base: self.exponential_base.unwrap_or(defaults.exponential_base),
            jitter: self.jitter.unwrap_or(defaults.jitter),
            budget: self.budget,
            seed: self.seed,
            operation: self.operation.clone().unwrap_or(Cow::Borrowed("")),
        }
    }
}

impl RetryPolicy {
    fn validate(&self, written: &dyn Fn(&'static str) -> bool) -> Result<(), ConfigError> {
        let err = |setting, value, reason| config::invalid("retry policy", setting, value, reason);
        if self.max_attempts == 0 || self.max_attempts > config::MAX_RETRY_ATTEMPTS {
            let reason = format!("must be from 1 to {}", config::MAX_RETRY_ATTEMPTS);
            return Err(err("max_attempts", self.max_attempts.to_string(), reason));
        }
        if self.max_delay > config::MAX_DURATION {
            let value = format!("{:?}", self.max_delay);
            return Err(err("max_delay", value, "must be at most 365 days".into()));
        }
        if self.base_delay > self.max_delay {
            let (base, max) = (self.base_delay, self.max_delay);
            return Err(config::invalid_pair(
                written,
                "retry policy",
                [
                    (
                        "base_delay",
                        format!("{base:?}"),
                        format!("must not exceed max_delay ({max:?})"),
                    ),
                    (
                        "max_delay",
                        format!("{max:?}"),
                        format!("must not be below base_delay ({base:?})"),
                    ),
                ],
            ));
        }
        if !(self.exponential_base.is_finite() && self.exponential_base >= 1.0) {
            return Err(err(
                "exponential_base",
                self.exponential_base.to_string(),
                "must be a finite number of at least 1.0 (a base below 1 would shrink the delays)"
                    .into(),
            ));
        }
        match self.budget {
            Some(b) if b.is_zero() => Err(err(
                "budget",
                "0s".into(),
                "must be greater than zero".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Checks what `options` decide on their own: each value's range, and `base_delay <= max_delay`
/// when they give both. A setting they leave out takes a value that breaks no rule.
#[cfg(feature = "serde")]
pub(crate) fn check_options(options: &RetryOptions) -> Result<(), ConfigError> {
    let o = options;
    let d = RetrySettings::BUILT_IN;
    let policy = RetryPolicy {
        max_attempts: o.max_attempts.unwrap_or(d.max_attempts),
        base_delay: o.base_delay.unwrap_or(Duration::ZERO),
        max_delay: o.max_delay.unwrap_or(config::MAX_DURATION),
        exponential_base: o.exponential_base.unwrap_or(d.exponential_base),
        jitter: o.jitter.unwrap_or(d.jitter),
        budget: o.budget,
        seed: None,
        operation: Cow::Borrowed(""),
    };
    policy.validate(&|setting| match setting {
        "base_delay" => o.base_delay.is_some(),
        "max_delay" => o.max_delay.is_some(),
        _ => true,
    })
}
