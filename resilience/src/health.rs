//! Health monitoring: [`HealthMonitor`] checks every tier on a schedule and reports the guide's
//! health status.
//!
//! Each tier has a named check, an async closure returning `Result<(), E>` for any
//! `E: Display`. The monitor runs every check once per [`check_interval`] on a Tokio task
//! ([`start`](HealthMonitor::start) / [`stop`](HealthMonitor::stop)), or on demand
//! ([`check_all`](HealthMonitor::check_all), [`check_tier`](HealthMonitor::check_tier)), and
//! keeps the latest result of each tier for [`status`](HealthMonitor::status), which never waits.
//!
//! * The checks of one round run concurrently, each on a task of its own, so a slow tier does not
//!   delay the others.
//! * A check that takes longer than its [`timeout`] counts as failed (`timed out after 10s`), so
//!   a hanging dependency cannot stall the monitor. A check that panics counts as failed
//!   (`check panicked: <message>`) and the monitor carries on.
//! * Each tier reports the state of the circuit breaker of the same name in the linked
//!   [`CircuitBreakerManager`] (the global [`registry()`](crate::registry()) unless
//!   [`manager`](HealthMonitorBuilder::manager) says otherwise). With
//!   [`probe_breakers(true)`](HealthMonitorBuilder::probe_breakers), a tier that passes its check
//!   moves its open breaker to half-open at once ([`CircuitBreaker::try_half_open`]), instead of
//!   leaving it to wait out the rest of its recovery timeout.
//!
//! # Tracing events
//!
//! Target `resilience`, field `event`, as in [`crate::events`]:
//!
//! | `event`               | level | fields                                   |
//! |-----------------------|-------|------------------------------------------|
//! | `health_check_failed` | WARN  | `tier`, `error`, `consecutive_failures`  |
//! | `tier_recovered`      | INFO  | `tier`                                   |
//!
//! `tier_recovered` is emitted when a tier whose last check failed passes one; a tier's first
//! successful check is not a recovery.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use resilience::health::{HealthMonitor, OverallStatus};
//!
//! struct McpClient;
//! impl McpClient {
//!     async fn ping(&self) -> Result<(), std::io::Error> {
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), resilience::ConfigError> {
//! let mcp = Arc::new(McpClient);
//! let monitor = HealthMonitor::builder()
//!     // A shared client: each check gets its own clone of the `Arc`.
//!     .tier_with("tier1_mcp", Arc::clone(&mcp), |mcp| async move { mcp.ping().await })
//!     // Or any closure returning a future.
//!     .tier("tier3_rest", || async { Err::<(), _>("HTTP 503") })
//!     .check_interval(Duration::from_secs(30))
//!     .build()?;
//!
//! monitor.start(); // first round now, then every 30 s
//! let health = monitor.check_all().await; // or check every tier now
//! assert!(!health.all_healthy);
//! assert_eq!(health.status, OverallStatus::Degraded);
//! assert_eq!(health.tiers["tier3_rest"].last_error.as_deref(), Some("HTTP 503"));
//! monitor.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! [`check_interval`]: HealthMonitorBuilder::check_interval
//! [`timeout`]: HealthMonitorBuilder::timeout
//! [`CircuitBreaker::try_half_open`]: crate::CircuitBreaker::try_half_open

use std::collections::BTreeMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::{Instant, MissedTickBehavior};

use crate::breaker::CircuitState;
use crate::config;
use crate::error::ConfigError;
use crate::events;
use crate::registry::{CircuitBreakerManager, ManagerRef};

/// The default per-check timeout, when it is shorter than the check interval.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a stored check returns: the error already rendered as text.
type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;

/// A stored check: called once per run, on the run's own task.
type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync + 'static>;

const CONTEXT: &str = "health monitor";

// ---------------------------------------------------------------------------------------------
// Status types
// ---------------------------------------------------------------------------------------------

/// The overall health of the monitored tiers.
///
/// With the `serde` feature it serialises as `"healthy"`, `"degraded"` or `"unhealthy"`.
///
/// ```
/// use resilience::health::OverallStatus;
///
/// assert_eq!(OverallStatus::Degraded.as_str(), "degraded");
/// assert_eq!(OverallStatus::Healthy.to_string(), "healthy");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum OverallStatus {
    /// Every tier passed its last check.
    Healthy,
    /// Some tiers passed their last check, others failed it or were never checked.
    Degraded,
    /// No tier passed its last check (or none has been checked yet).
    Unhealthy,
}

impl OverallStatus {
    /// The status as the guide writes it: `healthy`, `degraded` or `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            OverallStatus::Healthy => "healthy",
            OverallStatus::Degraded => "degraded",
            OverallStatus::Unhealthy => "unhealthy",
        }
    }

    /// The status of a set of tiers, `healthy` of them passing out of `total`.
    fn of(healthy: usize, total: usize) -> Self {
        if healthy == total {
            OverallStatus::Healthy
        } else if healthy == 0 {
            OverallStatus::Unhealthy
        } else {
            OverallStatus::Degraded
        }
    }
}

impl fmt::Display for OverallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The health of one tier: the outcome of its last check.
///
/// A tier that has not been checked yet is *unknown*: `healthy: false`, `last_check: None`,
/// `latency: None`, `consecutive_failures: 0`, `last_error: None`. It counts as not healthy, so
/// that `all_healthy` is never true before every tier has passed a check.
///
/// With the `serde` feature, `last_check` serialises as an RFC 3339 string, `latency` as
/// `latency_seconds` (or `null`), `breaker_state` as `"closed"`, `"open"`, ... (or `null`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TierHealth {
    /// Whether the last check passed; `false` before the first check.
    pub healthy: bool,
    /// When the last check ended, by the wall clock; `None` before the first check.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::events::ser::opt_rfc3339")
    )]
    pub last_check: Option<SystemTime>,
    /// How long the last check took, passed or failed (a timed-out check: the timeout).
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "latency_seconds",
            serialize_with = "crate::events::ser::opt_secs"
        )
    )]
    pub latency: Option<Duration>,
    /// Failed checks in a row; a passed check resets it to 0.
    pub consecutive_failures: u32,
    /// The error of the last check when it failed; `None` when it passed.
    pub last_error: Option<String>,
    /// The state of the circuit breaker of the same name in the monitor's manager, when one is
    /// registered there.
    pub breaker_state: Option<CircuitState>,
}

/// The health of every tier (the guide's `get_health_status()`).
///
/// `tiers` is a map by tier name rather than a list: a tier is looked up by the name it was
/// registered (and its breaker) under, `health.tiers["tier1_mcp"]`, and the `serde` form is the
/// guide's JSON object keyed by tier. Names sort in tier order when they start with it
/// (`tier1_mcp`, `tier2_sdk`, `tier3_rest`).
///
/// With the `serde` feature:
///
/// ```json
/// {
///   "all_healthy": false,
///   "status": "degraded",
///   "checked_at": "2025-01-31T12:00:00.000Z",
///   "tiers": {
///     "tier1_mcp": { "healthy": false, "last_check": "2025-01-31T12:00:00.000Z",
///                    "latency_seconds": 10.0, "consecutive_failures": 3,
///                    "last_error": "timed out after 10s", "breaker_state": "open" },
///     "tier2_sdk": { "healthy": true, "last_check": "2025-01-31T12:00:00.000Z",
///                    "latency_seconds": 0.042, "consecutive_failures": 0,
///                    "last_error": null, "breaker_state": "closed" }
///   }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct HealthStatus {
    /// Whether every tier passed its last check.
    pub all_healthy: bool,
    /// Healthy when every tier passed its last check, unhealthy when none did, degraded
    /// otherwise. A tier never checked counts as not passing.
    pub status: OverallStatus,
    /// The latest `last_check` of any tier; `None` when no tier has been checked yet.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::events::ser::opt_rfc3339")
    )]
    pub checked_at: Option<SystemTime>,
    /// Every tier, by name.
    pub tiers: BTreeMap<String, TierHealth>,
}

impl HealthStatus {
    fn from_tiers(tiers: BTreeMap<String, TierHealth>) -> Self {
        let healthy = tiers.values().filter(|t| t.healthy).count();
        let status = OverallStatus::of(healthy, tiers.len());
        HealthStatus {
            all_healthy: status == OverallStatus::Healthy,
            status,
            checked_at: tiers.values().filter_map(|t| t.last_check).max(),
            tiers,
        }
    }
}

/// [`HealthMonitor::check_tier`] was given a name no check is registered under.
///
/// ```
/// use resilience::health::HealthMonitor;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), resilience::ConfigError> {
/// let monitor = HealthMonitor::builder()
///     .tier("tier1_mcp", || async { Ok::<(), String>(()) })
///     .build()?;
/// let err = monitor.check_tier("tier9").await.unwrap_err();
/// assert_eq!(err.tier(), "tier9");
/// assert_eq!(err.to_string(), "no health check is registered for tier 'tier9'");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no health check is registered for tier '{tier}'")]
pub struct UnknownTier {
    tier: String,
}

impl UnknownTier {
    /// The name that was asked for.
    pub fn tier(&self) -> &str {
        &self.tier
    }
}

// ---------------------------------------------------------------------------------------------
// Builder
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
    fn new() -> Self {
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

        let tiers = self
            .tiers
            .into_iter()
            .map(|(name, check)| Tier {
                name,
                check,
                record: Mutex::new(Record::default()),
            })
            .collect();
        Ok(HealthMonitor {
            inner: Arc::new(Inner {
                tiers,
                check_interval,
                timeout,
                manager: self.manager,
                probe_breakers: self.probe_breakers,
            }),
            running: Mutex::new(None),
        })
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

// ---------------------------------------------------------------------------------------------
// The monitor
// ---------------------------------------------------------------------------------------------

/// Checks the health of named tiers, on a schedule or on demand (the guide's `HealthMonitor`).
///
/// Build it with [`HealthMonitor::builder`]. It is `Send + Sync`: share it in an `Arc` between
/// the task that serves a health endpoint ([`status`](Self::status)) and the one that starts and
/// stops it. Dropping it stops its background task.
///
/// ```
/// use std::time::Duration;
/// use resilience::health::{HealthMonitor, OverallStatus};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), resilience::ConfigError> {
/// let monitor = HealthMonitor::builder()
///     .tier("tier1_mcp", || async { Ok::<(), String>(()) })
///     .tier("tier2_sdk", || async { Ok::<(), String>(()) })
///     .build()?;
///
/// // Before any check, every tier is unknown and counts as not healthy.
/// let before = monitor.status();
/// assert_eq!(before.status, OverallStatus::Unhealthy);
/// assert_eq!(before.tiers["tier1_mcp"].last_check, None);
///
/// let health = monitor.check_all().await;
/// assert!(health.all_healthy);
/// assert_eq!(monitor.status(), health);
/// # Ok(())
/// # }
/// ```
pub struct HealthMonitor {
    inner: Arc<Inner>,
    running: Mutex<Option<Running>>,
}

/// The background task and the means to stop it.
struct Running {
    /// Dropping it tells the task to stop.
    stop: watch::Sender<()>,
    handle: JoinHandle<()>,
}

/// What the background task shares with the monitor. It holds no reference back to the
/// monitor, so dropping the monitor is enough to stop the task.
struct Inner {
    tiers: Vec<Tier>,
    check_interval: Duration,
    timeout: Duration,
    manager: ManagerRef<'static>,
    probe_breakers: bool,
}

struct Tier {
    name: String,
    check: CheckFn,
    record: Mutex<Record>,
}

/// The last outcome of one tier; `last_check: None` means never checked.
#[derive(Default)]
struct Record {
    healthy: bool,
    last_check: Option<SystemTime>,
    latency: Option<Duration>,
    consecutive_failures: u32,
    last_error: Option<String>,
}

impl fmt::Debug for HealthMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tiers: Vec<&str> = self.inner.tiers.iter().map(|t| t.name.as_str()).collect();
        f.debug_struct("HealthMonitor")
            .field("tiers", &tiers)
            .field("check_interval", &self.inner.check_interval)
            .field("timeout", &self.inner.timeout)
            .field("probe_breakers", &self.inner.probe_breakers)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl HealthMonitor {
    /// Starts building a monitor.
    pub fn builder() -> HealthMonitorBuilder {
        HealthMonitorBuilder::new()
    }

    /// The time between two rounds of checks.
    pub fn check_interval(&self) -> Duration {
        self.inner.check_interval
    }

    /// How long one check may take before it counts as failed.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The tier names, in the order they were added.
    pub fn tier_names(&self) -> impl Iterator<Item = &str> {
        self.inner.tiers.iter().map(|t| t.name.as_str())
    }

    /// Starts checking every tier on a background task: a first round now, then one every
    /// check interval (the guide's `start_monitoring()`).
    ///
    /// Returns `true` when it started the task, `false` when the task was already running (and
    /// nothing changed). After [`stop`](Self::stop) it can be started again.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime (with time enabled), as [`tokio::spawn`] does.
    ///
    /// ```
    /// use resilience::health::HealthMonitor;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), resilience::ConfigError> {
    /// let monitor = HealthMonitor::builder()
    ///     .tier("tier1_mcp", || async { Ok::<(), String>(()) })
    ///     .build()?;
    /// assert!(monitor.start());
    /// assert!(!monitor.start()); // already running
    /// assert!(monitor.stop().await);
    /// assert!(!monitor.stop().await); // already stopped
    /// # Ok(())
    /// # }
    /// ```
    pub fn start(&self) -> bool {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.as_ref().is_some_and(|r| !r.handle.is_finished()) {
            return false;
        }
        let (stop, stopped) = watch::channel(());
        let handle = tokio::spawn(run(Arc::clone(&self.inner), stopped));
        *running = Some(Running { stop, handle });
        true
    }

    /// Stops the background task and waits for it to end (the guide's `stop_monitoring()`).
    /// Checks in flight are cancelled; results already in are kept.
    ///
    /// Returns `true` when a task was running, `false` when there was nothing to stop (the
    /// monitor was never started, or another `stop` took care of it).
    pub async fn stop(&self) -> bool {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(Running { stop, handle }) = running else {
            return false;
        };
        drop(stop);
        // The task ends at its next await; it only fails if it was aborted or panicked, and
        // either way it has ended.
        let _ = handle.await;
        true
    }

    /// Whether the background task is running.
    pub fn is_running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|r| !r.handle.is_finished())
    }

    /// The latest result of every tier, without checking anything (the guide's
    /// `get_health_status()`). Cheap: a lock per tier and a breaker lookup per tier.
    pub fn status(&self) -> HealthStatus {
        let tiers = self
            .inner
            .tiers
            .iter()
            .map(|tier| (tier.name.clone(), self.inner.health_of(tier)))
            .collect();
        HealthStatus::from_tiers(tiers)
    }

    /// Checks every tier now, concurrently, and returns the new status (the guide's
    /// `check_all_tiers()`). Runs alongside the background task if it is running.
    pub async fn check_all(&self) -> HealthStatus {
        self.inner.check_all().await;
        self.status()
    }

    /// Checks the tier `name` now and returns its new health.
    ///
    /// ```
    /// use resilience::health::HealthMonitor;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let monitor = HealthMonitor::builder()
    ///     .tier("tier2_sdk", || async { Err::<(), _>("connection refused") })
    ///     .build()?;
    /// let tier = monitor.check_tier("tier2_sdk").await?;
    /// assert!(!tier.healthy);
    /// assert_eq!(tier.consecutive_failures, 1);
    /// assert_eq!(tier.last_error.as_deref(), Some("connection refused"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn check_tier(&self, name: &str) -> Result<TierHealth, UnknownTier> {
        let Some(index) = self.inner.tiers.iter().position(|t| t.name == name) else {
            return Err(UnknownTier {
                tier: name.to_owned(),
            });
        };
        self.inner.check(&[index]).await;
        Ok(self.inner.health_of(&self.inner.tiers[index]))
    }
}

impl Drop for HealthMonitor {
    fn drop(&mut self) {
        let running = self
            .running
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(running) = running {
            running.handle.abort();
        }
    }
}

/// The background task: a round at every tick until told to stop.
async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<()>) {
    let mut ticks = tokio::time::interval(inner.check_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if until_stopped(&mut stop, ticks.tick()).await.is_none()
            || until_stopped(&mut stop, inner.check_all()).await.is_none()
        {
            return;
        }
    }
}

/// Runs `fut` unless the stop signal comes first (then `fut` is dropped: checks in flight are
/// aborted).
async fn until_stopped<F: Future>(stop: &mut watch::Receiver<()>, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    // The sender is never used to send: it is dropped to stop, which ends `changed()`.
    let mut stopped = pin!(stop.changed());
    poll_fn(|cx| {
        if stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        fut.as_mut().poll(cx).map(Some)
    })
    .await
}

/// A check running on its own task; the task is aborted if this is dropped first.
struct Run {
    tier: usize,
    started: Instant,
    handle: JoinHandle<Result<(), String>>,
}

impl Drop for Run {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl Inner {
    fn manager(&self) -> &CircuitBreakerManager {
        &self.manager
    }

    fn health_of(&self, tier: &Tier) -> TierHealth {
        let breaker_state = self.manager().get(&tier.name).map(|b| b.state());
        let record = tier.record.lock().unwrap_or_else(PoisonError::into_inner);
        TierHealth {
            healthy: record.healthy,
            last_check: record.last_check,
            latency: record.latency,
            consecutive_failures: record.consecutive_failures,
            last_error: record.last_error.clone(),
            breaker_state,
        }
    }

    async fn check_all(&self) {
        let all: Vec<usize> = (0..self.tiers.len()).collect();
        self.check(&all).await;
    }

    /// Checks the tiers at `indices` concurrently, each on its own task, and records each
    /// outcome as soon as it is in.
    async fn check(&self, indices: &[usize]) {
        let timeout = self.timeout;
        let mut runs: Vec<Option<Run>> = indices
            .iter()
            .map(|&tier| {
                let check = Arc::clone(&self.tiers[tier].check);
                let started = Instant::now();
                let handle = tokio::spawn(async move {
                    // The check is called on its task, so that a panic in the call is caught too.
                    match tokio::time::timeout(timeout, check()).await {
                        Ok(outcome) => outcome,
                        Err(_) => Err(format!(
                            "timed out after {}",
                            humantime::format_duration(timeout)
                        )),
                    }
                });
                Some(Run {
                    tier,
                    started,
                    handle,
                })
            })
            .collect();
        poll_fn(|cx| {
            let mut pending = false;
            for slot in &mut runs {
                let Some(run) = slot else { continue };
                match Pin::new(&mut run.handle).poll(cx) {
                    Poll::Ready(joined) => {
                        let latency = run.started.elapsed();
                        self.record(&self.tiers[run.tier], outcome_of(joined), latency);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
    }

    fn record(&self, tier: &Tier, outcome: Result<(), String>, latency: Duration) {
        let now = SystemTime::now();
        let mut record = tier.record.lock().unwrap_or_else(PoisonError::into_inner);
        let was_failing = record.last_check.is_some() && !record.healthy;
        record.last_check = Some(now);
        record.latency = Some(latency);
        match outcome {
            Ok(()) => {
                record.healthy = true;
                record.consecutive_failures = 0;
                record.last_error = None;
                drop(record);
                events::health_check_passed(&tier.name, was_failing);
                if self.probe_breakers {
                    if let Some(breaker) = self.manager().get(&tier.name) {
                        breaker.try_half_open();
                    }
                }
            }
            Err(error) => {
                record.healthy = false;
                record.consecutive_failures = record.consecutive_failures.saturating_add(1);
                let consecutive_failures = record.consecutive_failures;
                record.last_error = Some(error.clone());
                drop(record);
                events::health_check_failed(&tier.name, &error, consecutive_failures);
            }
        }
    }
}

/// The outcome of a check's task: its own, or the panic (or cancellation) that ended it.
fn outcome_of(joined: Result<Result<(), String>, JoinError>) -> Result<(), String> {
    match joined {
        Ok(outcome) => outcome,
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("Box<dyn Any>");
            Err(format!("check panicked: {message}"))
        }
        Err(_) => Err("check cancelled".to_owned()),
    }
}
