//! Keep a service working while the services it calls fail.
//!
//! * [`CircuitBreaker`]: stops calling a failing dependency, probes it after a while, and closes
//!   again once it answers. Lock-free on the call path.
//! * [`CircuitBreakerManager`] and the process-wide [`registry()`]: breakers shared by name.
//! * [`RetryPolicy`]: retries with exponential backoff and jitter, that wait out an open
//!   circuit instead of hammering it.
//! * [`FallbackHandler`]: tries tiers in order, skipping those whose breaker is open.
//! * [`HealthMonitor`]: checks each tier in the background and reports their health.
//! * [`config`]: defaults from the environment (`CIRCUIT_BREAKER_FAILURE_THRESHOLD`, ...), with
//!   [`init()`] to fail fast on a bad value.
//! * [`events`]: tracing events with the guide's fields, and subscriptions to state changes.
//! * [`error`]: one error type per failure mode, and [`Error`] gathering them.
//!
//! ```
//! use std::time::Duration;
//! use resilience::{CallError, CircuitBreaker, CircuitState};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), resilience::ConfigError> {
//! let breaker = CircuitBreaker::builder("zoho_mcp")
//!     .failure_threshold(5)
//!     .recovery_timeout(Duration::from_secs(60))
//!     .half_open_max_calls(3)
//!     .success_threshold(2)
//!     .build()?;
//!
//! let account = breaker.call(|| async { Ok::<_, std::io::Error>("ACME Corp") }).await;
//! assert_eq!(account.unwrap(), "ACME Corp");
//! assert_eq!(breaker.state(), CircuitState::Closed);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod breaker;
pub mod config;
pub mod error;
pub mod events;
pub mod fallback;
pub mod health;
pub mod registry;
pub mod retry;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use resilience_macros::{circuit_breaker, fallback, retry};

pub use breaker::{
    CallError, CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerConfig, CircuitState, Metrics,
    Permit,
};
pub use error::{
    AllTiersFailedError, BoxError, CircuitBreakerOpenError, ConfigError, Error,
    RetryExhaustedError, TierFailure, TierOutcome,
};
pub use events::StateChange;
pub use fallback::{FallbackHandler, Served, Tier};
pub use health::{
    HealthMonitor, HealthMonitorBuilder, HealthStatus, OverallStatus, TierHealth, UnknownTier,
};
pub use registry::{CircuitBreakerManager, registry};
pub use retry::{RetryError, RetryPolicy, RetryPolicyBuilder, RetryRun, Verdict};

/// Validates the environment now, for a service that wants to fail fast at start-up: every
/// global variable and every per-breaker `CIRCUIT_BREAKER_<NAME>_<KEY>` variable present.
///
/// Without it, a bad value is logged once at error level and the default kept.
///
/// ```
/// fn main() -> Result<(), resilience::ConfigError> {
///     resilience::init()?;
///     // ... start the service
///     Ok(())
/// }
/// ```
pub fn init() -> Result<config::Settings, ConfigError> {
    config::init()
}

// The README's code blocks run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
