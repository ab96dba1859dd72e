//! What a monitor reports: each tier's health, the overall status, and the error for a tier
//! that has no check.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use crate::breaker::CircuitState;

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
    pub(super) fn from_tiers(tiers: BTreeMap<String, TierHealth>) -> Self {
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

/// [`HealthMonitor::check_tier`](super::HealthMonitor::check_tier) was given a name no check is registered under.
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
    pub(super) tier: String,
}

impl UnknownTier {
    /// The name that was asked for.
    pub fn tier(&self) -> &str {
        &self.tier
    }
}
