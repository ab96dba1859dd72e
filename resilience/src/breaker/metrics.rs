//! [`Metrics`]: a snapshot of one breaker.

use super::*;

/// A snapshot of one breaker: the guide's "Metrics Structure".
///
/// With the `serde` feature it serialises to the guide's JSON shape: `state` as `"closed"`,
/// `last_failure_time` as an RFC 3339 string, `time_until_retry` as `time_until_retry_seconds`, in
/// seconds or `null`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Metrics {
    /// The current state.
    pub state: CircuitState,
    /// Closed: consecutive failures so far. Open: the failures that opened it (consecutive, or in
    /// the window when the failure-rate rule fired). Otherwise 0.
    pub failure_count: u32,
    /// Half-open: successful probes so far. Otherwise 0.
    pub success_count: u32,
    /// Calls in the sliding window (since the breaker last closed, at most `window_size`).
    pub total_calls: u32,
    /// Share of failures among `total_calls`, from 0.0 to 1.0; 0.0 with no calls.
    pub error_rate: f64,
    /// When the last failure was recorded, by the wall clock (to the coarse clock's tick on Linux;
    /// see [`CircuitBreaker`]'s time section).
    #[cfg_attr(feature = "serde", serde(serialize_with = "events::ser::opt_rfc3339"))]
    pub last_failure_time: Option<SystemTime>,
    /// Open: how long until a call may probe (zero once due). Otherwise `None`.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "time_until_retry_seconds",
            serialize_with = "events::ser::opt_secs"
        )
    )]
    pub time_until_retry: Option<Duration>,
}
