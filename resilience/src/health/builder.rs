//! [`HealthMonitorBuilder`]: the tiers and their checks, the schedule, and the checks of
//! these settings.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{CONTEXT, CheckFn, CheckFuture, DEFAULT_TIMEOUT, HealthMonitor};
use crate::config;
use crate::error::ConfigError;
use crate::registry::ManagerRef;

// ---------------------------------------------------------------------------------------------

/// Builds a [`HealthMonitor`]: at least one tier; every setting is optional.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use resilience::CircuitBreakerManager;
/// use resilience::health::HealthMonitor;
///
/// let manager = Arc::new(CircuitBreakerManager::new());
/// let monitor = HealthMonitor::builder()
///     .tier("tier1_mcp", || async { Ok::<(), std::io::Error>(()) })
///     .check_interval(Duration::from_secs(15))
///     .timeout(Duration::from_secs(5))
///     .manager(manager)
///     .probe_breakers(true)
///     .build()?;
/// assert_eq!(monitor.check_interval(), Duration::from_secs(15));
/// assert_eq!(monitor.timeout(), Duration::from_secs(5));
/// # Ok::<(), resilience::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build()` is called"]
pub struct HealthMonitorBuilder {
    tiers: Vec<(String, CheckFn)>,
    check_interval: Option<Duration>,
    timeout: Option<Duration>,
    manager: ManagerRef<'static>,
    probe_breakers: bool,
}

impl fmt::Debug for HealthMonitorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthMonitorBuilder")
            .field(
                "tiers",
                &self.tiers.iter().map(|t| &t.0).collect::<Vec<_>>(),
            )
            .field("check_interval", &self.check_interval)
            .field("timeout", &self.timeout)
            .field("manager", &self.manager)
            .field("probe_breakers", &self.probe_breakers)
            .finish()
    }
}

impl HealthMonitorBuilder {
    pub(super) fn new() -> Self {
        Self {
            tiers: Vec::new(),
            check_interval: None,
            timeout: None,
            manager: ManagerRef::default(),
            probe_breakers: false,
        }
    }

    /// Adds the tier `name`, checked by calling `check` and awaiting its future: `Ok(())` passes,
    /// `Err(e)` fails with `e.to_string()` as the tier's `last_error`.
    ///
    /// `name` follows the rule of breaker names ([`config::validate_name`]), since the tier
    /// reports (and may probe) the breaker of the same name. A closure that needs a shared client
    /// clones it into each future, or use [`tier_with`](Self::tier_with):
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience::health::HealthMonitor;
    ///
    /// struct SdkClient;
    /// impl SdkClient {
    ///     async fn ping(&self) -> Result<(), std::io::Error> { Ok(()) }
    /// }
    ///
    /// let sdk = Arc::new(SdkClient);
    /// let monitor = HealthMonitor::builder()
    ///     .tier("tier2_sdk", move || {
    ///         let sdk = Arc::clone(&sdk);
    ///         async move { sdk.ping().await }
    ///     })
    ///     .build()?;
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn tier<F, Fut, E>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        let check: CheckFn = Arc::new(move || -> CheckFuture {
            let fut = check();
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        });
        self.tiers.push((name.into(), check));
        self
    }

    /// Adds the tier `name`, checked by `check(client.clone())`: for a check that calls a shared
    /// client, typically an `Arc`. Otherwise as [`tier`](Self::tier).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience::health::HealthMonitor;
    ///
    /// struct RestClient;
    /// impl RestClient {
    ///     async fn ping(&self) -> Result<(), std::io::Error> { Ok(()) }
    /// }
    ///
    /// let rest = Arc::new(RestClient);
    /// let monitor = HealthMonitor::builder()
    ///     .tier_with("tier3_rest", Arc::clone(&rest), |rest| async move { rest.ping().await })
    ///     .build()?;
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn tier_with<C, F, Fut, E>(self, name: impl Into<String>, client: C, check: F) -> Self
    where
        C: Clone + Send + Sync + 'static,
        F: Fn(C) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        self.tier(name, move || check(client.clone()))
    }

    /// Time between the starts of two rounds of checks. Default: [`HEALTH_CHECK_INTERVAL`], 30 s
    /// when it is unset. Must be greater than zero and at most 365 days.
    ///
    /// A round that outlasts the interval delays the next one; rounds never overlap.
    ///
    /// [`HEALTH_CHECK_INTERVAL`]: config::HEALTH_CHECK_INTERVAL
    pub fn check_interval(mut self, interval: Duration) -> Self {
        self.check_interval = Some(interval);
        self
    }

    /// How long one check may take before it counts as failed (`timed out after 10s`).
    /// Default: [`DEFAULT_TIMEOUT`] (10 s), or the check interval when that is shorter. Must be
    /// greater than zero and at most 365 days.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Links the monitor to `manager`, the global [`registry()`](crate::registry()) unless set:
    /// each tier reports (and, with [`probe_breakers`](Self::probe_breakers), probes) the breaker
    /// of the same name registered there. Takes the registry or a manager of your own in an
    /// `Arc`, as [`FallbackHandler::new`](crate::FallbackHandler::new) does (see [`ManagerRef`]).
    pub fn manager(mut self, manager: impl Into<ManagerRef<'static>>) -> Self {
        self.manager = manager.into();
        self
    }

    /// When on, a tier that passes its check moves the breaker of the same name from open to
    /// half-open ([`CircuitBreaker::try_half_open`](crate::CircuitBreaker::try_half_open)), so
    /// that calls can probe the dependency at once instead of waiting out the rest of the
    /// recovery timeout. A breaker forced open by an operator is left alone. Off by default.
    pub fn probe_breakers(mut self, on: bool) -> Self {
        self.probe_breakers = on;
        self
    }

    /// Validates the settings and builds the monitor (stopped; see [`HealthMonitor::start`]).
    ///
    /// Errors ([`ConfigError::InvalidSetting`]): no tier, a tier name that is not a valid breaker
    /// name or is registered twice, a zero or too long `check_interval` or `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::health::HealthMonitor;
    ///
    /// let err = HealthMonitor::builder()
    ///     .tier("tier1_mcp", || async { Ok::<(), String>(()) })
    ///     .check_interval(Duration::ZERO)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.input(), "check_interval");
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid check_interval = 0s for health monitor: must be greater than zero"
    /// );
    /// ```
    pub fn build(self) -> Result<HealthMonitor, ConfigError> {
        let invalid = |setting: &'static str, value: String, reason: &str| {
            Err(ConfigError::InvalidSetting {
                setting,
                value,
                reason: reason.to_owned(),
                context: CONTEXT.to_owned(),
            })
        };
        if self.tiers.is_empty() {
            return invalid("tiers", "0".into(), "at least one tier check is needed");
        }
        for (i, (name, _)) in self.tiers.iter().enumerate() {
            if let Err(reason) = config::validate_name(name) {
                return invalid("tier", format!("{name:?}"), &reason);
            }
            if self.tiers[..i].iter().any(|(other, _)| other == name) {
                return invalid("tier", format!("{name:?}"), "registered twice");
            }
        }
        let check_interval = self
            .check_interval
            .unwrap_or(config::settings().health.check_interval);
        validate_duration("check_interval", check_interval)?;
        let timeout = self
            .timeout
            .unwrap_or_else(|| DEFAULT_TIMEOUT.min(check_interval));
        validate_duration("timeout", timeout)?;

        Ok(HealthMonitor::new(
            self.tiers,
            check_interval,
            timeout,
            self.manager,
            self.probe_breakers,
        ))
    }
}

fn validate_duration(setting: &'static str, d: Duration) -> Result<(), ConfigError> {
    let (value, reason) = if d.is_zero() {
        ("0s".to_owned(), "must be greater than zero")
    } else if d > config::MAX_DURATION {
        (format!("{d:?}"), "must be at most 365 days")
    } else {
        return Ok(());
    };
    Err(ConfigError::InvalidSetting {
        setting,
        value,
        reason: reason.to_owned(),
        context: CONTEXT.to_owned(),
    })
}
