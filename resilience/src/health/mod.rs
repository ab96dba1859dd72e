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
//!   [`CircuitBreakerManager`](crate::CircuitBreakerManager) (the global
//!   [`registry()`](crate::registry()) unless [`manager`](HealthMonitorBuilder::manager) says
//!   otherwise). With [`probe_breakers(true)`](HealthMonitorBuilder::probe_breakers), a tier
//!   that passes its check moves its open breaker to half-open at once
//!   ([`CircuitBreaker::try_half_open`]), instead of leaving it to wait out the rest of its
//!   recovery timeout.
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

mod builder;
mod checks;
mod monitor;
mod status;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use builder::HealthMonitorBuilder;
pub use monitor::HealthMonitor;
pub use status::{HealthStatus, OverallStatus, TierHealth, UnknownTier};

/// The default per-check timeout, when it is shorter than the check interval.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a stored check returns: the error already rendered as text.
type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;

/// A stored check: called once per run, on the run's own task.
type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync + 'static>;

const CONTEXT: &str = "health monitor";
