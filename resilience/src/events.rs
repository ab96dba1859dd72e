//! What the breakers tell the world: tracing events and state-change subscriptions.
//!
//! # Tracing events
//!
//! Every event has the target `resilience` and a field `event` with its name, and carries the
//! guide's fields. Each level is the one an operator reading a production log needs: ERROR when
//! a call could not be served at all or a setting was thrown away, WARN when something stays
//! wrong until it heals or someone acts, INFO for what explains a slow or degraded call but
//! needs no action, DEBUG for what happens at the rate of the calls and is already summed up by
//! another event (and by the metrics).
//!
//! | `event`             | level | fields                                                                 | why this level |
//! |---------------------|-------|------------------------------------------------------------------------|----------------|
//! | `circuit_opened`    | WARN  | `circuit_breaker`, `old_state`, `failure_count`, `recovery_timeout` (s) | a dependency is failing: its calls are refused until it recovers |
//! | `circuit_half_open` | INFO  | `circuit_breaker`, `old_state`                                         | recovery under way, nothing to do |
//! | `circuit_closed`    | INFO  | `circuit_breaker`, `old_state`                                         | recovered |
//! | `circuit_disabled`  | WARN  | `circuit_breaker`, `old_state`                                         | the protection is off until re-enabled |
//! | `call_failed`       | DEBUG | `circuit_breaker`, `failure_count`, `threshold`                        | one per failed call; the caller gets the error, `circuit_opened` sums them up |
//! | `call_rejected`     | DEBUG | `circuit_breaker`, `state`                                             | one per refused call while open, announced by `circuit_opened` |
//! | `config_conflict`   | WARN  | `circuit_breaker` (or `bulkhead`, `rate_limiter`), `kept`, `ignored`   | a setting written in code is not applied: fix the code |
//! | `config_error`      | ERROR | `context`, `variable`, `value`, `error`                                | a configured value was thrown away: fix the environment |
//! | `attribute_config_error` | ERROR | `circuit_breaker` (or `bulkhead`, `rate_limiter`), `place` (`file:line`), `error` | the settings written in a `#[circuit_breaker]` attribute were thrown away, its breaker runs on the defaults (a limit's: it runs outside the registry): fix the attribute |
//! | `retry_attempt`     | INFO  | `operation`, `attempt`, `max_attempts`, `delay` (s), `error`           | the call goes on; it explains a slow call, no action needed |
//! | `retry_exhausted`   | WARN  | `operation`, `attempts`, `error`                                       | the error goes back to the caller, which may still be served by a fallback tier: an error only if nothing serves (`all_tiers_failed`), which the caller knows, not the retry |
//! | `tier_failed`       | INFO  | `operation`, `tier`, `error`                                           | the next tier is tried; `all_tiers_failed` reports when none is left |
//! | `tier_skipped`      | DEBUG | `operation`, `tier`, `retry_after` (s)                                 | one per call while a tier's circuit is open, announced by `circuit_opened` |
//! | `fallback_used`     | INFO  | `operation`, `tier`, `position`                                        | the call was served, degraded |
//! | `all_tiers_failed`  | ERROR | `operation`, `tiers`, `error`                                          | the call could not be served at all |
//! | `health_check_failed` | WARN | `tier`, `error`, `consecutive_failures`                               | a tier is down until it passes a check again |
//! | `tier_recovered`    | INFO  | `tier`                                                                 | it did |
//! | `fleet_unreachable` | WARN  | `redis` (the URL, password masked), `error`                            | feature `fleet`: once per outage; each breaker decides alone and each bulkhead and rate limiter runs on its local share until Redis answers |
//! | `fleet_reconnected` | INFO  | `redis`, `outage_seconds`                                              | the fleet reconciles: breakers take its state, limits its leases and blocks; nothing to do |
//! | `fleet_bad_value`   | WARN  | `error` (names the key and the value, or the channel and the message)  | once per key and value: that breaker decides alone (that limit runs on its local share) until the value is fixed |
//!
//! `circuit_opened` is also emitted, with `old_state` and `forced = true`, when an operator forces
//! a breaker open (WARN: every call is refused until someone resets it). A retry that stops early
//! (the error is not retried, or the circuit stays open longer than `max_delay`) emits
//! `retry_stopped` at DEBUG, with `operation`, `attempts`, `reason`, `error`: the error goes back to the caller
//! as it is.
//!
//! # Metrics
//!
//! With the `metrics` feature, the same functions that emit these events also update the series
//! of [`crate::metrics`], so that each event and its metric live in one place.
//!
//! # Subscribing to state changes
//!
//! [`CircuitBreaker::subscribe`](crate::CircuitBreaker::subscribe) and
//! [`CircuitBreakerManager::subscribe`](crate::CircuitBreakerManager::subscribe) hand out a
//! [`tokio::sync::broadcast::Receiver`] of [`StateChange`]s, for alerting. Sending never waits:
//! a receiver that falls more than [`STATE_CHANGE_CAPACITY`] changes behind gets
//! [`RecvError::Lagged`](tokio::sync::broadcast::error::RecvError::Lagged) with the number it
//! missed, and the calls through the breaker are never slowed by it.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use crate::breaker::CircuitState;
use crate::error::{AllTiersFailedError, TierOutcome};
use crate::name::Name;

/// How many state changes a subscriber may fall behind before it starts missing them.
pub const STATE_CHANGE_CAPACITY: usize = 64;

/// One transition of one circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StateChange {
    /// The breaker's name.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::arc_str"))]
    pub circuit_breaker: Arc<str>,
    /// The state it left.
    pub old_state: CircuitState,
    /// The state it entered.
    pub new_state: CircuitState,
    /// When, by the wall clock.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::rfc3339"))]
    pub at: SystemTime,
}

impl fmt::Display for StateChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit '{}': {} -> {} at {}",
            self.circuit_breaker,
            self.old_state,
            self.new_state,
            rfc3339(self.at)
        )
    }
}

/// Formats a wall-clock time as RFC 3339 (UTC, milliseconds). A time before 1970, which only a
/// badly set clock produces, prints as the epoch instead of failing.
pub(crate) fn rfc3339(t: SystemTime) -> humantime::Rfc3339Timestamp {
    humantime::format_rfc3339_millis(t.max(SystemTime::UNIX_EPOCH))
}

/// A broadcast channel made on its first subscriber, so that a breaker nobody listens to pays
/// nothing for it.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    sender: OnceLock<broadcast::Sender<StateChange>>,
}

impl Hub {
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<StateChange> {
        self.sender
            .get_or_init(|| broadcast::channel(STATE_CHANGE_CAPACITY).0)
            .subscribe()
    }

    /// Whether anyone receives this hub's changes now.
    pub(crate) fn listening(&self) -> bool {
        self.sender
            .get()
            .is_some_and(|sender| sender.receiver_count() > 0)
    }

    pub(crate) fn publish(&self, change: &StateChange) {
        if let Some(sender) = self.sender.get() {
            if sender.receiver_count() > 0 {
                // An error only means every receiver left meanwhile; nothing to do.
                let _ = sender.send(change.clone());
            }
        }
    }
}

/// A breaker was registered in a manager: its series exist from now on.
pub(crate) fn breaker_registered(name: &str, state: CircuitState, recovery_timeout: Duration) {
    #[cfg(feature = "metrics")]
    crate::metrics::breaker_registered(name, state, recovery_timeout);
    #[cfg(not(feature = "metrics"))]
    let _ = (name, state, recovery_timeout);
}

pub(crate) fn state_changed(
    name: &str,
    old: CircuitState,
    new: CircuitState,
    failure_count: u32,
    recovery_timeout: Duration,
) {
    #[cfg(feature = "metrics")]
    crate::metrics::state_changed(name, old, new);
    let old_state = old.as_str();
    match new {
        CircuitState::Open => tracing::warn!(
            target: "resilience",
            event = "circuit_opened",
            circuit_breaker = name,
            old_state,
            failure_count,
            recovery_timeout = recovery_timeout.as_secs_f64(),
            "circuit breaker opened"
        ),
        CircuitState::ForcedOpen => tracing::warn!(
            target: "resilience",
            event = "circuit_opened",
            circuit_breaker = name,
            old_state,
            forced = true,
            "circuit breaker forced open"
        ),
        CircuitState::HalfOpen => tracing::info!(
            target: "resilience",
            event = "circuit_half_open",
            circuit_breaker = name,
            old_state,
            "circuit breaker half-open: probing recovery"
        ),
        CircuitState::Closed => tracing::info!(
            target: "resilience",
            event = "circuit_closed",
            circuit_breaker = name,
            old_state,
            "circuit breaker closed"
        ),
        CircuitState::Disabled => tracing::warn!(
            target: "resilience",
            event = "circuit_disabled",
            circuit_breaker = name,
            old_state,
            "circuit breaker disabled: every call is admitted"
        ),
    }
}

/// Whether events at `level` can reach any subscriber: the check of the call path's events,
/// one load, before anything is built for them.
#[inline]
fn level_enabled(level: tracing::Level) -> bool {
    level <= tracing::level_filters::STATIC_MAX_LEVEL
        && level <= tracing::level_filters::LevelFilter::current()
}

// The call path's events take the breaker's `Name` and read the string out of it only when
// they emit: read before the level check, it costs the path three loads for nothing.

#[inline]
pub(crate) fn call_failed(name: &Name, failure_count: u32, threshold: u32) {
    #[cfg(feature = "metrics")]
    crate::metrics::call_failed(name);
    if level_enabled(tracing::Level::DEBUG) {
        emit_call_failed(name, failure_count, threshold);
    }
}

#[cold]
#[inline(never)]
fn emit_call_failed(name: &Name, failure_count: u32, threshold: u32) {
    tracing::debug!(
        target: "resilience",
        event = "call_failed",
        circuit_breaker = name.as_str(),
        failure_count,
        threshold,
        "call through circuit breaker failed"
    );
}

#[inline]
pub(crate) fn call_rejected(name: &Name, state: CircuitState) {
    #[cfg(feature = "metrics")]
    crate::metrics::call_rejected(name, state);
    if level_enabled(tracing::Level::DEBUG) {
        emit_call_rejected(name, state);
    }
}

#[cold]
#[inline(never)]
fn emit_call_rejected(name: &Name, state: CircuitState) {
    tracing::debug!(
        target: "resilience",
        event = "call_rejected",
        circuit_breaker = name.as_str(),
        state = state.as_str(),
        "call rejected by circuit breaker"
    );
}

pub(crate) fn config_conflict(name: &str, kept: &dyn fmt::Debug, ignored: &dyn fmt::Debug) {
    tracing::warn!(
        target: "resilience",
        event = "config_conflict",
        circuit_breaker = name,
        kept = ?kept,
        ignored = ?ignored,
        "circuit breaker registered again with a different configuration; keeping the first"
    );
}

/// `tier_skipped` or `tier_failed`, for a tier that did not serve.
pub(crate) fn tier_did_not_serve<E: fmt::Display>(
    operation: &str,
    tier: &str,
    outcome: &TierOutcome<E>,
) {
    match outcome {
        TierOutcome::Skipped(open) => tracing::debug!(
            target: "resilience",
            event = "tier_skipped",
            operation,
            tier,
            retry_after = open.retry_after().map(|d| d.as_secs_f64()),
            "tier skipped: its circuit is open"
        ),
        TierOutcome::Failed(error) => tracing::info!(
            target: "resilience",
            event = "tier_failed",
            operation,
            tier,
            error = %error,
            "tier failed; trying the next one"
        ),
    }
}

pub(crate) fn fallback_used(operation: &str, tier: &str, position: usize) {
    #[cfg(feature = "metrics")]
    crate::metrics::fallback_served(operation, tier);
    tracing::info!(
        target: "resilience",
        event = "fallback_used",
        operation,
        tier,
        position,
        "served by a fallback tier"
    );
}

pub(crate) fn all_tiers_failed<E: fmt::Display>(error: &AllTiersFailedError<E>) {
    #[cfg(feature = "metrics")]
    crate::metrics::all_tiers_failed(&error.operation);
    tracing::error!(
        target: "resilience",
        event = "all_tiers_failed",
        operation = &*error.operation,
        tiers = error.attempted_tiers.len(),
        error = %error,
        "every tier failed"
    );
}

pub(crate) fn retry_attempt(
    operation: &str,
    attempt: u32,
    max_attempts: u32,
    delay: Duration,
    error: &dyn fmt::Display,
) {
    #[cfg(feature = "metrics")]
    crate::metrics::retry_attempt(operation);
    tracing::info!(
        target: "resilience",
        event = "retry_attempt",
        operation,
        attempt,
        max_attempts,
        delay = delay.as_secs_f64(),
        error = %error,
        "attempt failed; retrying"
    );
}

pub(crate) fn retry_exhausted(operation: &str, attempts: u32, error: &dyn fmt::Display) {
    #[cfg(feature = "metrics")]
    crate::metrics::retry_exhausted(operation);
    tracing::warn!(
        target: "resilience",
        event = "retry_exhausted",
        operation,
        attempts,
        error = %error,
        "every attempt failed"
    );
}

pub(crate) fn retry_stopped(
    operation: &str,
    attempts: u32,
    reason: &str,
    error: &dyn fmt::Display,
) {
    tracing::debug!(
        target: "resilience",
        event = "retry_stopped",
        operation,
        attempts,
        reason,
        error = %error,
        "not retrying"
    );
}

/// A tier passed its health check; `recovered` when its previous check had failed.
pub(crate) fn health_check_passed(tier: &str, recovered: bool) {
    #[cfg(feature = "metrics")]
    crate::metrics::tier_health(tier, true);
    if recovered {
        tracing::info!(
            target: "resilience",
            event = "tier_recovered",
            tier,
            "tier passed its health check again"
        );
    }
}

pub(crate) fn health_check_failed(tier: &str, error: &str, consecutive_failures: u32) {
    #[cfg(feature = "metrics")]
    crate::metrics::tier_health(tier, false);
    tracing::warn!(
        target: "resilience",
        event = "health_check_failed",
        tier,
        error,
        consecutive_failures,
        "health check failed"
    );
}

#[cfg(feature = "serde")]
pub(crate) mod ser {
    use std::sync::Arc;
    use std::time::SystemTime;

    pub(crate) fn arc_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }

    pub(crate) fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&super::rfc3339(*t))
    }

    pub(crate) fn opt_rfc3339<S: serde::Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => rfc3339(t, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn opt_secs<S: serde::Serializer>(
        d: &Option<std::time::Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

/// A bulkhead refused a call. Debug, like a breaker's rejection: shedding load is the
/// bulkhead doing its job, and a busy service refuses many calls; its metrics count them.
#[cold]
pub(crate) fn bulkhead_full(name: &str, max_concurrent: u32, waited: std::time::Duration) {
    tracing::debug!(
        target: "resilience",
        event = "bulkhead_full",
        bulkhead = name,
        max_concurrent,
        waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
        "call refused by bulkhead: every slot is taken"
    );
}

/// A rate limiter refused a call. Debug, for the same reason as [`bulkhead_full`].
#[cold]
pub(crate) fn rate_limited(name: &str, retry_after: Option<std::time::Duration>) {
    tracing::debug!(
        target: "resilience",
        event = "rate_limited",
        rate_limiter = name,
        retry_after_ms = retry_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        "call refused by rate limiter"
    );
}

/// A bulkhead or rate limiter registered again under its name with other settings: the first
/// is kept. `kind` is the field that names it, `bulkhead` or `rate_limiter`.
#[cold]
pub(crate) fn limit_config_conflict(
    kind: &'static str,
    name: &str,
    kept: &dyn fmt::Debug,
    ignored: &dyn fmt::Debug,
) {
    match kind {
        "bulkhead" => tracing::warn!(
            target: "resilience",
            event = "config_conflict",
            bulkhead = name,
            kept = ?kept,
            ignored = ?ignored,
            "bulkhead registered again with a different configuration; keeping the first"
        ),
        _ => tracing::warn!(
            target: "resilience",
            event = "config_conflict",
            rate_limiter = name,
            kept = ?kept,
            ignored = ?ignored,
            "rate limiter registered again with a different configuration; keeping the first"
        ),
    }
}

/// The settings of a `#[bulkhead]` or `#[rate_limit]` attribute could not be registered. `kind`
/// is the field that names it, `bulkhead` or `rate_limiter`.
#[cold]
pub(crate) fn limit_attribute_config_error(
    kind: &'static str,
    name: &str,
    place: &str,
    error: &dyn fmt::Display,
) {
    match kind {
        "bulkhead" => tracing::error!(
            target: "resilience",
            event = "attribute_config_error",
            bulkhead = name,
            place,
            error = %error,
            "invalid bulkhead configuration; the bulkhead runs outside the registry"
        ),
        _ => tracing::error!(
            target: "resilience",
            event = "attribute_config_error",
            rate_limiter = name,
            place,
            error = %error,
            "invalid rate limiter configuration; the limiter runs outside the registry"
        ),
    }
}
