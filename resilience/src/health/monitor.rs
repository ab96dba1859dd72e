//! [`HealthMonitor`]: its public face (start, stop, status, checks on demand) and the state
//! it shares with its background task.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::checks::run;
use super::{CheckFn, HealthMonitorBuilder, HealthStatus, TierHealth, UnknownTier};
use crate::registry::ManagerRef;

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
pub(super) struct Inner {
    pub(super) tiers: Vec<Tier>,
    pub(super) check_interval: Duration,
    pub(super) timeout: Duration,
    pub(super) manager: ManagerRef<'static>,
    pub(super) probe_breakers: bool,
}

pub(super) struct Tier {
    pub(super) name: String,
    pub(super) check: CheckFn,
    pub(super) record: Mutex<Record>,
}

/// The last outcome of one tier; `last_check: None` means never checked.
#[derive(Default)]
pub(super) struct Record {
    pub(super) healthy: bool,
    pub(super) last_check: Option<SystemTime>,
    pub(super) latency: Option<Duration>,
    pub(super) consecutive_failures: u32,
    pub(super) last_error: Option<String>,
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
    /// A stopped monitor of `tiers`, whose settings [`HealthMonitorBuilder::build`] checked.
    pub(super) fn new(
        tiers: Vec<(String, CheckFn)>,
        check_interval: Duration,
        timeout: Duration,
        manager: ManagerRef<'static>,
        probe_breakers: bool,
    ) -> Self {
        let tiers = tiers
            .into_iter()
            .map(|(name, check)| Tier {
                name,
                check,
                record: Mutex::new(Record::default()),
            })
            .collect();
        HealthMonitor {
            inner: Arc::new(Inner {
                tiers,
                check_interval,
                timeout,
                manager,
                probe_breakers,
            }),
            running: Mutex::new(None),
        }
    }

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
