//! Breakers, retries, fallbacks and health checks published through the [`metrics`] facade
//! (feature `metrics`), to whichever exporter the application installs (Prometheus, StatsD, ...).
//!
//! Every event of [`crate::events`] updates its series as it happens:
//!
//! | series                                  | kind    | labels                          | updated when                       |
//! |-----------------------------------------|---------|---------------------------------|------------------------------------|
//! | `resilience_circuit_state`              | gauge   | `circuit_breaker`               | a breaker changes state; [`publish`] |
//! | `resilience_circuit_transitions_total`  | counter | `circuit_breaker`, `from`, `to` | a breaker changes state            |
//! | `resilience_calls_failed_total`         | counter | `circuit_breaker`               | a call through a breaker fails     |
//! | `resilience_calls_rejected_total`       | counter | `circuit_breaker`               | a breaker refuses a call           |
//! | `resilience_retry_attempts_total`       | counter |                                 | a failed attempt is retried        |
//! | `resilience_retry_exhausted_total`      | counter |                                 | the last attempt fails             |
//! | `resilience_fallback_served_total`      | counter | `operation`, `tier`             | a tier other than the first serves |
//! | `resilience_all_tiers_failed_total`     | counter | `operation`                     | every tier failed                  |
//! | `resilience_tier_healthy`               | gauge   | `tier`                          | every health check result (1 or 0) |
//!
//! The state gauge is [`state_value`]: 0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled.
//!
//! Successful calls have no event: the success path of a breaker takes no lock, allocates
//! nothing and reads no clock, and counting each success in a metrics registry would end that.
//! Instead [`publish`] copies a manager's [`all_metrics`](CircuitBreakerManager::all_metrics)
//! into gauges (`resilience_circuit_total_calls`, `resilience_circuit_error_rate`,
//! `resilience_circuit_failure_count` and the state); call it periodically, or just before an
//! exporter renders.
//!
//! Without an installed recorder every update returns at once, allocating nothing (a zero-sized
//! recorder, such as the `NoopRecorder` that `metrics` uses when none is installed, counts as
//! none). The failure and rejection counters of each breaker are registered with the recorder
//! once and kept, by breaker name, so that a breaker that fails or refuses at the rate of the
//! calls costs a read lock and a lookup per call, not an allocation. [`describe`] gives each
//! series its help text, for exporters that print one.
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
//!     breaker.force_open(); // a transition: counted, and the state gauge set
//!     resilience::metrics::publish(&manager);
//!     Ok::<_, resilience::ConfigError>(())
//! })?;
//!
//! let series: Vec<_> = snapshotter.snapshot().into_vec();
//! let state = series
//!     .iter()
//!     .find(|(key, ..)| key.key().name() == "resilience_circuit_state")
//!     .map(|(.., value)| value);
//! assert_eq!(state, Some(&DebugValue::Gauge(3.0.into()))); // forced open
//! # Ok::<(), resilience::ConfigError>(())
//! ```

use std::collections::HashMap;
use std::sync::{LazyLock, PoisonError, RwLock};

use metrics::{
    Counter, Key, Label, Level, Metadata, counter, describe_counter, describe_gauge, gauge,
};

use crate::breaker::CircuitState;
use crate::registry::CircuitBreakerManager;

/// Gauge: a breaker's state as [`state_value`]; label `circuit_breaker`.
pub const CIRCUIT_STATE: &str = "resilience_circuit_state";
/// Counter: state transitions; labels `circuit_breaker`, `from`, `to` (the states' names).
pub const CIRCUIT_TRANSITIONS: &str = "resilience_circuit_transitions_total";
/// Gauge, set by [`publish`]: calls in a breaker's sliding window; label `circuit_breaker`.
pub const CIRCUIT_TOTAL_CALLS: &str = "resilience_circuit_total_calls";
/// Gauge, set by [`publish`]: share of failures in the window, 0.0 to 1.0; label `circuit_breaker`.
pub const CIRCUIT_ERROR_RATE: &str = "resilience_circuit_error_rate";
/// Gauge, set by [`publish`]: the breaker's `failure_count`; label `circuit_breaker`.
pub const CIRCUIT_FAILURE_COUNT: &str = "resilience_circuit_failure_count";
/// Counter: failed calls through a breaker; label `circuit_breaker`.
pub const CALLS_FAILED: &str = "resilience_calls_failed_total";
/// Counter: calls a breaker refused; label `circuit_breaker`.
pub const CALLS_REJECTED: &str = "resilience_calls_rejected_total";
/// Counter: failed attempts that are retried.
pub const RETRY_ATTEMPTS: &str = "resilience_retry_attempts_total";
/// Counter: retried calls whose every attempt failed (or whose budget ran out).
pub const RETRY_EXHAUSTED: &str = "resilience_retry_exhausted_total";
/// Counter: calls served by a fallback tier (not the first); labels `operation`, `tier`.
pub const FALLBACK_SERVED: &str = "resilience_fallback_served_total";
/// Counter: calls for which every tier failed or was skipped; label `operation`.
pub const ALL_TIERS_FAILED: &str = "resilience_all_tiers_failed_total";
/// Gauge: 1 when the tier passed its last health check, 0 when it failed it; label `tier`.
pub const TIER_HEALTHY: &str = "resilience_tier_healthy";

/// The value of the state gauge: 0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled.
///
/// ```
/// use resilience::CircuitState;
/// use resilience::metrics::state_value;
///
/// assert_eq!(state_value(CircuitState::Closed), 0.0);
/// assert_eq!(state_value(CircuitState::HalfOpen), 2.0);
/// assert_eq!(state_value(CircuitState::Disabled), 4.0);
/// ```
pub fn state_value(state: CircuitState) -> f64 {
    match state {
        CircuitState::Closed => 0.0,
        CircuitState::Open => 1.0,
        CircuitState::HalfOpen => 2.0,
        CircuitState::ForcedOpen => 3.0,
        CircuitState::Disabled => 4.0,
    }
}

/// Sets the gauges of every breaker in `manager` from its
/// [`all_metrics`](CircuitBreakerManager::all_metrics): state, total calls, error rate and
/// failure count.
///
/// The per-call counters are updated as events happen; these gauges are not (successes have no
/// event), so call this periodically, or right before an exporter renders:
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
    for (name, m) in manager.all_metrics() {
        gauge!(CIRCUIT_STATE, "circuit_breaker" => name.clone()).set(state_value(m.state));
        gauge!(CIRCUIT_TOTAL_CALLS, "circuit_breaker" => name.clone()).set(m.total_calls);
        gauge!(CIRCUIT_FAILURE_COUNT, "circuit_breaker" => name.clone()).set(m.failure_count);
        let rate = if m.error_rate.is_finite() {
            m.error_rate
        } else {
            0.0
        };
        gauge!(CIRCUIT_ERROR_RATE, "circuit_breaker" => name).set(rate);
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
        "Circuit breaker state: 0 closed, 1 open, 2 half_open, 3 forced_open, 4 disabled"
    );
    describe_counter!(CIRCUIT_TRANSITIONS, "Circuit breaker state transitions");
    describe_gauge!(
        CIRCUIT_TOTAL_CALLS,
        "Calls in the circuit breaker's sliding window"
    );
    describe_gauge!(
        CIRCUIT_ERROR_RATE,
        "Share of failed calls in the circuit breaker's window, 0.0 to 1.0"
    );
    describe_gauge!(CIRCUIT_FAILURE_COUNT, "The circuit breaker's failure count");
    describe_counter!(CALLS_FAILED, "Failed calls through a circuit breaker");
    describe_counter!(CALLS_REJECTED, "Calls refused by an open circuit breaker");
    describe_counter!(RETRY_ATTEMPTS, "Failed attempts that were retried");
    describe_counter!(RETRY_EXHAUSTED, "Retried calls whose every attempt failed");
    describe_counter!(FALLBACK_SERVED, "Calls served by a fallback tier");
    describe_counter!(ALL_TIERS_FAILED, "Calls for which every tier failed");
    describe_gauge!(
        TIER_HEALTHY,
        "1 when the tier passed its last health check, 0 otherwise"
    );
}

// The hooks of `crate::events`: off the success path, so a label's allocation is fine here.

pub(crate) fn state_changed(name: &str, from: CircuitState, to: CircuitState) {
    if !recording() {
        return;
    }
    gauge!(CIRCUIT_STATE, "circuit_breaker" => name.to_owned()).set(state_value(to));
    counter!(
        CIRCUIT_TRANSITIONS,
        "circuit_breaker" => name.to_owned(),
        "from" => from.as_str(),
        "to" => to.as_str()
    )
    .increment(1);
}

pub(crate) fn call_failed(name: &str) {
    breaker_counters(name, |c| c.failed.increment(1));
}

pub(crate) fn call_rejected(name: &str, _state: CircuitState) {
    breaker_counters(name, |c| c.rejected.increment(1));
}

/// A breaker's per-call counters, registered with one recorder.
struct BreakerCounters {
    /// The recorder they belong to, by address: a recorder installed (or scoped) later gets
    /// counters of its own.
    recorder: usize,
    failed: Counter,
    rejected: Counter,
}

/// The per-call counters by breaker name. A failure or a rejection may come at the rate of the
/// calls (an open breaker refuses them all), so once a breaker's counters exist, updating them
/// takes a read lock and a lookup, with no allocation; only the first time registers them.
static BREAKER_COUNTERS: LazyLock<RwLock<HashMap<Box<str>, BreakerCounters>>> =
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

fn breaker_counters(name: &str, f: impl FnOnce(&BreakerCounters)) {
    let Some(recorder) = current_recorder() else {
        return;
    };
    {
        let map = BREAKER_COUNTERS
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(counters) = map.get(name).filter(|c| c.recorder == recorder) {
            return f(counters);
        }
    }
    let register = |series: &'static str| {
        let key = Key::from_parts(series, vec![Label::new("circuit_breaker", name.to_owned())]);
        metrics::with_recorder(|r| r.register_counter(&key, &METADATA))
    };
    let counters = BreakerCounters {
        recorder,
        failed: register(CALLS_FAILED),
        rejected: register(CALLS_REJECTED),
    };
    f(&counters);
    BREAKER_COUNTERS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.into(), counters);
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

pub(crate) fn retry_attempt() {
    if !recording() {
        return;
    }
    counter!(RETRY_ATTEMPTS).increment(1);
}

pub(crate) fn retry_exhausted() {
    if !recording() {
        return;
    }
    counter!(RETRY_EXHAUSTED).increment(1);
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
