//! Breakers, retries, fallbacks and health checks published through the
//! [`metrics`](https://docs.rs/metrics) facade (feature `metrics`), to whichever exporter the
//! application installs (Prometheus, StatsD, ...).
//!
//! Named as Prometheus users expect: counters end in `_total`, durations and timestamps are in
//! `_seconds`, ratios end in `_ratio`, and the state is one series per state.
//!
//! | series                                         | kind      | labels                          | updated when                         |
//! |------------------------------------------------|-----------|---------------------------------|--------------------------------------|
//! | `resilience_circuit_state`                     | gauge     | `circuit_breaker`, `state`      | registration, a state change, [`publish`] |
//! | `resilience_circuit_transitions_total`         | counter   | `circuit_breaker`, `from`, `to` | a breaker changes state              |
//! | `resilience_circuit_opened_timestamp_seconds`  | gauge     | `circuit_breaker`               | a breaker leaves the closed state    |
//! | `resilience_circuit_recovery_timeout_seconds`  | gauge     | `circuit_breaker`               | registration, [`publish`]            |
//! | `resilience_calls_failed_total`                | counter   | `circuit_breaker`               | a call through a breaker fails       |
//! | `resilience_calls_rejected_total`              | counter   | `circuit_breaker`               | a breaker refuses a call             |
//! | `resilience_call_duration_seconds`             | histogram | `circuit_breaker`, `outcome`    | an admitted call records its outcome |
//! | `resilience_retry_attempts_total`              | counter   | `operation`                     | a failed attempt is retried          |
//! | `resilience_retry_exhausted_total`             | counter   | `operation`                     | the last attempt fails               |
//! | `resilience_fallback_served_total`             | counter   | `operation`, `tier`             | a tier other than the first serves   |
//! | `resilience_all_tiers_failed_total`            | counter   | `operation`                     | every tier failed                    |
//! | `resilience_tier_healthy`                      | gauge     | `tier`                          | every health check result (1 or 0)   |
//! | `resilience_circuit_window_calls`              | gauge     | `circuit_breaker`               | [`publish`]                          |
//! | `resilience_circuit_failure_ratio`             | gauge     | `circuit_breaker`               | [`publish`]                          |
//! | `resilience_circuit_failures`                  | gauge     | `circuit_breaker`               | [`publish`]                          |
//! | `resilience_fleet_outages_total`               | counter   |                                 | feature `fleet`: Redis became unreachable |
//! | `resilience_fleet_reachable`                   | gauge     |                                 | feature `fleet`: Redis answered (1) or not (0) |
//! | `resilience_fleet_bad_values_total`            | counter   |                                 | feature `fleet`: a malformed value or message, once per key and value |
//! | `resilience_fleet_bulkhead_slots`              | gauge     | `bulkhead`                      | feature `fleet`: the slots Redis leased this replica, at each lease |
//! | `resilience_fleet_rate_limiter_tokens_total`   | counter   | `rate_limiter`                  | feature `fleet`: a block of tokens handed to this replica |
//!
//! * `state` is one of `closed`, `open`, `half_open`, `forced_open`, `disabled`: the series of
//!   the current state is 1, the four others 0 (`resilience_circuit_state{state="open"} == 1`
//!   selects the open breakers).
//! * A breaker registered in a [`CircuitBreakerManager`] (the attributes' breakers included:
//!   every one of them when the global [`registry()`](crate::registry()) is first used, by any
//!   attribute's call, a lookup or a health monitor) has its series from then on: the state
//!   series, its failure and rejection counters and the counters of its automatic transitions
//!   (closed → open → half_open → closed or open) at 0, and its recovery timeout. `rate()` and `increase()` then see its first event.
//!   A recorder installed after registration gets them from the next [`publish`].
//! * `operation` is the function's name under `#[retry]` and `#[fallback]`, or the name given
//!   to [`RetryPolicyBuilder::operation`](crate::RetryPolicyBuilder::operation) and
//!   [`FallbackHandler::serve`](crate::FallbackHandler::serve).
//!
//! # Successes and latency
//!
//! `resilience_call_duration_seconds` times every call a breaker admits, from the permit
//! ([`CircuitBreaker::try_acquire`](crate::CircuitBreaker::try_acquire), so the attributes,
//! [`CircuitBreaker::call`](crate::CircuitBreaker::call), the tower layer, retries and fallbacks
//! alike) to the record of its outcome, on tokio's clock; its `_count` with `outcome="success"`
//! counts the successes. A call that is dropped before it records (cancelled) is not timed.
//!
//! Without the feature, the permit holds no start time and the success path reads no clock: its
//! code is what it was (43 instructions a closed success, counted by callgrind on
//! `benches/examples/shape`). With the feature and no recorder installed, the permit checks for a
//! recorder when the call is admitted and is 32 bytes instead of 16 (80 instructions). With a
//! recorder installed, each admitted call adds two reads of tokio's clock, a read lock and a
//! lookup of the breaker's series by name, and the exporter's own record: about 630 more
//! instructions with `metrics-exporter-prometheus` (the lookup about 170, the exporter's
//! histogram about 160, its own clock read included, the two clock reads about 125). The
//! window's own figures (calls, failure ratio, failures) are gauges set by [`publish`] from
//! [`all_metrics`](CircuitBreakerManager::all_metrics): call it periodically, or just before an
//! exporter renders.
//!
//! Without an installed recorder every update returns at once, allocating nothing (a
//! zero-sized recorder, such as the `NoopRecorder` that `metrics` uses when none is installed,
//! counts as none). The per-call series of each breaker are registered with the recorder once
//! and kept, by breaker name, so that a breaker that fails or refuses at the rate of the calls
//! costs a read lock and a lookup per call, not an allocation. [`describe`] gives each series
//! its help text and unit, for exporters that print them.
//!
//! ```
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//! use resilience::{CircuitBreaker, CircuitBreakerManager};
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! let manager = CircuitBreakerManager::new();
//! metrics::with_local_recorder(&recorder, || {
//!     let breaker = manager.register(CircuitBreaker::builder("tier1_mcp"))?;
//!     breaker.force_open(); // a transition: counted, and the state series set
//!     Ok::<_, resilience::ConfigError>(())
//! })?;
//!
//! let series: Vec<_> = snapshotter.snapshot().into_vec();
//! let forced_open = series.iter().find(|(key, ..)| {
//!     let key = key.key();
//!     key.name() == "resilience_circuit_state"
//!         && key.labels().any(|l| l.key() == "state" && l.value() == "forced_open")
//! });
//! assert_eq!(forced_open.map(|s| &s.3), Some(&DebugValue::Gauge(1.0.into())));
//! # Ok::<(), resilience::ConfigError>(())
//! ```

use std::collections::HashMap;
use std::sync::{LazyLock, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use metrics::{
    Counter, Histogram, Key, Label, Level, Metadata, Unit, counter, describe_counter,
    describe_gauge, describe_histogram, gauge,
};
use tokio::time::Instant;

use crate::breaker::CircuitState;
use crate::registry::CircuitBreakerManager;

/// Gauge, one series per state: 1 for the breaker's current state, 0 for the others; labels
/// `circuit_breaker`, `state` (`closed`, `open`, `half_open`, `forced_open`, `disabled`).
pub const CIRCUIT_STATE: &str = "resilience_circuit_state";
/// Counter: state transitions; labels `circuit_breaker`, `from`, `to` (the states' names).
pub const CIRCUIT_TRANSITIONS: &str = "resilience_circuit_transitions_total";
/// Gauge: when the breaker last left the closed state for open or forced open, in seconds since
/// the Unix epoch (a failed probe that reopens it does not move it); label `circuit_breaker`.
pub const CIRCUIT_OPENED_TIMESTAMP: &str = "resilience_circuit_opened_timestamp_seconds";
/// Gauge: the breaker's `recovery_timeout`, in seconds; label `circuit_breaker`.
pub const CIRCUIT_RECOVERY_TIMEOUT: &str = "resilience_circuit_recovery_timeout_seconds";
/// Gauge, set by [`publish`]: calls in a breaker's sliding window; label `circuit_breaker`.
pub const CIRCUIT_WINDOW_CALLS: &str = "resilience_circuit_window_calls";
/// Gauge, set by [`publish`]: share of failures in the window, 0.0 to 1.0; label
/// `circuit_breaker`.
pub const CIRCUIT_FAILURE_RATIO: &str = "resilience_circuit_failure_ratio";
/// Gauge, set by [`publish`]: the breaker's `failure_count` (closed: consecutive failures; open:
/// the failures that opened it); label `circuit_breaker`.
pub const CIRCUIT_FAILURES: &str = "resilience_circuit_failures";
/// Counter: failed calls through a breaker; label `circuit_breaker`.
pub const CALLS_FAILED: &str = "resilience_calls_failed_total";
/// Counter: calls a breaker refused; label `circuit_breaker`.
pub const CALLS_REJECTED: &str = "resilience_calls_rejected_total";
/// Histogram: how long the calls a breaker admitted took, in seconds, by outcome; labels
/// `circuit_breaker`, `outcome` (`success` or `failure`). Its `_count` with
/// `outcome="success"` counts the successes.
pub const CALL_DURATION: &str = "resilience_call_duration_seconds";
/// Bucket bounds for [`CALL_DURATION`], in seconds, from 5 ms to a minute, for exporters that
/// need them: Prometheus' renders a summary unless given buckets, with
/// `PrometheusBuilder::new().set_buckets_for_metric(Matcher::Full(CALL_DURATION.into()),
/// CALL_DURATION_BUCKETS)` (as the `operator` example does).
pub const CALL_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Counter: failed attempts that are retried; label `operation`.
pub const RETRY_ATTEMPTS: &str = "resilience_retry_attempts_total";
/// Counter: retried calls whose every attempt failed (or whose budget ran out); label
/// `operation`.
pub const RETRY_EXHAUSTED: &str = "resilience_retry_exhausted_total";
/// Counter: calls served by a fallback tier (not the first); labels `operation`, `tier`.
pub const FALLBACK_SERVED: &str = "resilience_fallback_served_total";
/// Counter: calls for which every tier failed or was skipped; label `operation`.
pub const ALL_TIERS_FAILED: &str = "resilience_all_tiers_failed_total";
/// Gauge: 1 when the tier passed its last health check, 0 when it failed it; label `tier`.
pub const TIER_HEALTHY: &str = "resilience_tier_healthy";

/// Every state, in the order of the state series.
const STATES: [CircuitState; 5] = [
    CircuitState::Closed,
    CircuitState::Open,
    CircuitState::HalfOpen,
    CircuitState::ForcedOpen,
    CircuitState::Disabled,
];

/// The transitions a breaker makes by itself, whose counters exist from registration.
const AUTOMATIC_TRANSITIONS: [(CircuitState, CircuitState); 4] = [
    (CircuitState::Closed, CircuitState::Open),
    (CircuitState::Open, CircuitState::HalfOpen),
    (CircuitState::HalfOpen, CircuitState::Closed),
    (CircuitState::HalfOpen, CircuitState::Open),
];

/// Sets the state series of every breaker in `manager`, and the gauges of its
/// [`all_metrics`](CircuitBreakerManager::all_metrics): calls in the window, failure ratio,
/// failures. It also makes sure each breaker's series exist with the installed recorder, for a
/// recorder installed after the breakers were registered.
///
/// The per-call counters and the histogram are updated as events happen; these gauges are not
/// (successes have no event), so call this periodically, or right before an exporter renders:
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let publisher = tokio::spawn(async {
///     let mut every = tokio::time::interval(Duration::from_secs(10));
///     loop {
///         every.tick().await;
///         resilience::metrics::publish(resilience::registry());
///     }
/// });
/// # publisher.abort();
/// # }
/// ```
pub fn publish(manager: &CircuitBreakerManager) {
    if !recording() {
        return;
    }
    for (name, m) in manager.all_metrics() {
        if let Some(breaker) = manager.get(&name) {
            declare_breaker(&name, breaker.config().recovery_timeout);
        }
        set_state(&name, m.state);
        gauge!(CIRCUIT_WINDOW_CALLS, "circuit_breaker" => name.clone()).set(m.total_calls);
        gauge!(CIRCUIT_FAILURES, "circuit_breaker" => name.clone()).set(m.failure_count);
        let ratio = if m.error_rate.is_finite() {
            m.error_rate
        } else {
            0.0
        };
        gauge!(CIRCUIT_FAILURE_RATIO, "circuit_breaker" => name).set(ratio);
    }
}

/// Describes every series to the installed recorder (help text and unit), for exporters that
/// print them, such as Prometheus' `# HELP` lines. Call it once, after installing the recorder.
///
/// ```
/// use metrics_util::debugging::DebuggingRecorder;
///
/// let recorder = DebuggingRecorder::new();
/// metrics::with_local_recorder(&recorder, resilience::metrics::describe);
/// ```
pub fn describe() {
    describe_gauge!(
        CIRCUIT_STATE,
        "Circuit breaker state: 1 for the current state, 0 for the others"
    );
    describe_counter!(CIRCUIT_TRANSITIONS, "Circuit breaker state transitions");
    describe_gauge!(
        CIRCUIT_OPENED_TIMESTAMP,
        Unit::Seconds,
        "When the circuit breaker last left the closed state, in Unix seconds"
    );
    describe_gauge!(
        CIRCUIT_RECOVERY_TIMEOUT,
        Unit::Seconds,
        "The circuit breaker's recovery timeout"
    );
    describe_gauge!(
        CIRCUIT_WINDOW_CALLS,
        "Calls in the circuit breaker's sliding window"
    );
    describe_gauge!(
        CIRCUIT_FAILURE_RATIO,
        "Share of failed calls in the circuit breaker's window, 0 to 1"
    );
    describe_gauge!(
        CIRCUIT_FAILURES,
        "Failures counted toward opening: consecutive while closed, those that opened it while open"
    );
    describe_counter!(CALLS_FAILED, "Failed calls through a circuit breaker");
    describe_counter!(CALLS_REJECTED, "Calls refused by an open circuit breaker");
    describe_histogram!(
        CALL_DURATION,
        Unit::Seconds,
        "Duration of the calls a circuit breaker admitted, by outcome"
    );
    describe_counter!(RETRY_ATTEMPTS, "Failed attempts that were retried");
    describe_counter!(RETRY_EXHAUSTED, "Retried calls whose every attempt failed");
    describe_counter!(FALLBACK_SERVED, "Calls served by a fallback tier");
    describe_counter!(ALL_TIERS_FAILED, "Calls for which every tier failed");
    describe_gauge!(
        TIER_HEALTHY,
        "1 when the tier passed its last health check, 0 otherwise"
    );
    #[cfg(feature = "fleet")]
    crate::fleet::describe_metrics();
}

// The hooks of `crate::events` and of the permits. Off the success path but for the call timer,
// so a label's allocation is fine here.

/// Sets the state series: 1 for `state`, 0 for the others.
fn set_state(name: &str, state: CircuitState) {
    for s in STATES {
        gauge!(
            CIRCUIT_STATE,
            "circuit_breaker" => name.to_owned(),
            "state" => s.as_str()
        )
        .set(if s == state { 1.0 } else { 0.0 });
    }
}

/// Makes the breaker's counters and fixed gauges exist, at their current values (0 for a new
/// breaker), so that `rate()` and `increase()` see its first event.
fn declare_breaker(name: &str, recovery_timeout: Duration) {
    breaker_series(name, |series| {
        series.failed.increment(0);
        series.rejected.increment(0);
    });
    for (from, to) in AUTOMATIC_TRANSITIONS {
        counter!(
            CIRCUIT_TRANSITIONS,
            "circuit_breaker" => name.to_owned(),
            "from" => from.as_str(),
            "to" => to.as_str()
        )
        .increment(0);
    }
    gauge!(CIRCUIT_RECOVERY_TIMEOUT, "circuit_breaker" => name.to_owned())
        .set(recovery_timeout.as_secs_f64());
}

pub(crate) fn breaker_registered(name: &str, state: CircuitState, recovery_timeout: Duration) {
    if !recording() {
        return;
    }
    declare_breaker(name, recovery_timeout);
    set_state(name, state);
}

pub(crate) fn state_changed(name: &str, from: CircuitState, to: CircuitState) {
    if !recording() {
        return;
    }
    set_state(name, to);
    counter!(
        CIRCUIT_TRANSITIONS,
        "circuit_breaker" => name.to_owned(),
        "from" => from.as_str(),
        "to" => to.as_str()
    )
    .increment(1);
    let leaves_closed = matches!(from, CircuitState::Closed | CircuitState::Disabled);
    if leaves_closed && matches!(to, CircuitState::Open | CircuitState::ForcedOpen) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        gauge!(CIRCUIT_OPENED_TIMESTAMP, "circuit_breaker" => name.to_owned())
            .set(now.as_secs_f64());
    }
}

pub(crate) fn call_failed(name: &str) {
    breaker_series(name, |c| c.failed.increment(1));
}

pub(crate) fn call_rejected(name: &str, _state: CircuitState) {
    breaker_series(name, |c| c.rejected.increment(1));
}

/// When an admitted call started, kept by its permit: `None` when no recorder was installed
/// then. Only built with the `metrics` feature, so that without it a permit reads no clock.
#[derive(Debug)]
pub(crate) struct CallTimer(Option<Instant>);

impl CallTimer {
    /// Reads the clock (tokio's, so that a paused test sees virtual durations) if a recorder
    /// is installed.
    #[inline]
    pub(crate) fn start() -> Self {
        CallTimer(recording().then(Instant::now))
    }

    /// Records the call's duration in the breaker's histogram for its outcome.
    #[inline]
    pub(crate) fn finish(&self, name: &str, failed: bool) {
        if let Some(start) = self.0 {
            let seconds = start.elapsed().as_secs_f64();
            breaker_series(name, |s| {
                if failed {
                    s.failure_duration.record(seconds);
                } else {
                    s.success_duration.record(seconds);
                }
            });
        }
    }
}

/// A breaker's per-call series, registered with one recorder.
struct BreakerSeries {
    /// The recorder they belong to, by address: a recorder installed (or scoped) later gets
    /// series of its own.
    recorder: usize,
    failed: Counter,
    rejected: Counter,
    success_duration: Histogram,
    failure_duration: Histogram,
}

/// The per-call series by breaker name. A failure, a rejection or a timed call may come at the
/// rate of the calls, so once a breaker's series exist, updating them takes a read lock and a
/// lookup, with no allocation; only the first time registers them.
static BREAKER_SERIES: LazyLock<RwLock<HashMap<Box<str>, BreakerSeries>>> =
    LazyLock::new(Default::default);

/// The current recorder, by address; `None` when there is none to record to.
///
/// Without a recorder, `metrics` hands out its zero-sized `NoopRecorder`; every exporter holds
/// state, so a zero-sized recorder is taken for that one. The hooks then return at once: no
/// label built, nothing allocated, nothing cached.
fn current_recorder() -> Option<usize> {
    metrics::with_recorder(|r| {
        (std::mem::size_of_val(r) != 0).then(|| std::ptr::from_ref(r).cast::<()>() as usize)
    })
}

fn recording() -> bool {
    current_recorder().is_some()
}

fn breaker_series(name: &str, f: impl FnOnce(&BreakerSeries)) {
    let Some(recorder) = current_recorder() else {
        return;
    };
    {
        let map = BREAKER_SERIES
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = map.get(name).filter(|c| c.recorder == recorder) {
            return f(series);
        }
    }
    let breaker = || Label::new("circuit_breaker", name.to_owned());
    let counter = |series: &'static str| {
        let key = Key::from_parts(series, vec![breaker()]);
        metrics::with_recorder(|r| r.register_counter(&key, &METADATA))
    };
    let histogram = |outcome: &'static str| {
        let key = Key::from_parts(
            CALL_DURATION,
            vec![breaker(), Label::new("outcome", outcome)],
        );
        metrics::with_recorder(|r| r.register_histogram(&key, &METADATA))
    };
    let series = BreakerSeries {
        recorder,
        failed: counter(CALLS_FAILED),
        rejected: counter(CALLS_REJECTED),
        success_duration: histogram("success"),
        failure_duration: histogram("failure"),
    };
    f(&series);
    BREAKER_SERIES
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.into(), series);
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

pub(crate) fn retry_attempt(operation: &str) {
    if !recording() {
        return;
    }
    counter!(RETRY_ATTEMPTS, "operation" => operation.to_owned()).increment(1);
}

pub(crate) fn retry_exhausted(operation: &str) {
    if !recording() {
        return;
    }
    counter!(RETRY_EXHAUSTED, "operation" => operation.to_owned()).increment(1);
}

pub(crate) fn fallback_served(operation: &str, tier: &str) {
    if !recording() {
        return;
    }
    counter!(
        FALLBACK_SERVED,
        "operation" => operation.to_owned(),
        "tier" => tier.to_owned()
    )
    .increment(1);
}

pub(crate) fn all_tiers_failed(operation: &str) {
    if !recording() {
        return;
    }
    counter!(ALL_TIERS_FAILED, "operation" => operation.to_owned()).increment(1);
}

pub(crate) fn tier_health(tier: &str, healthy: bool) {
    if !recording() {
        return;
    }
    gauge!(TIER_HEALTHY, "tier" => tier.to_owned()).set(if healthy { 1.0 } else { 0.0 });
}
