//! The circuit breaker: its settings, its state machine, admission permits and metrics.
//!
//! ```text
//!  CLOSED ──[failure_threshold consecutive failures]──▶ OPEN
//!    ▲                                                   │
//!    │                                        [recovery_timeout passed,
//!    │                                         checked on the next call]
//!    │                                                   ▼
//!    └──────[success_threshold successes]──────── HALF_OPEN ──[any failure]──▶ OPEN
//! ```
//!
//! * **Closed**: every call is admitted; failures are counted and a success clears the count.
//!   Optionally, a failure rate over a sliding window of the last `window_size` calls trips it too.
//! * **Open**: calls are refused at once with [`CircuitBreakerOpenError`], without being made.
//! * **Half-open**: at most `half_open_max_calls` probe calls are in flight at once; after
//!   `success_threshold` successes the breaker closes, after any failure it opens again.
//!
//! Operators also have [`CircuitBreaker::reset`], [`CircuitBreaker::force_open`] and
//! [`CircuitBreaker::disable`].
//!
//! # How it works
//!
//! State, generation, counters and the sliding window's cursor live in one `AtomicU64`, so
//! admission and recording are lock-free: a recorded call takes its window slot and updates
//! its count in one CAS of that word, and a healthy breaker's success (a full window without
//! failures) writes nothing at all; no clock read or allocation on either. Transitions take a
//! mutex so that their side effects (deadline, window reset, events) are applied in order.
//! Every transition increments the generation; a [`Permit`] remembers the generation it was
//! admitted in, and its result is ignored once the breaker has moved on, so a slow call
//! admitted before a trip cannot count in the next state.
//!
//! # The failure-rate rule
//!
//! With [`CircuitBreakerBuilder::failure_rate_threshold`], the rate is checked whenever a
//! recorded call, success or failure, leaves the window at `minimum_calls` or more (the rule of
//! resilience4j): `F, F, F, S` with `minimum_calls(4)` and a rate of 0.5 opens the breaker on
//! the success. A success is checked only while the window holds failures.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use crate::clock;
use crate::config::{self, BreakerOverrides, BreakerSettings, Env};
use crate::error::{CircuitBreakerOpenError, ConfigError};
use crate::events::{self, Hub, StateChange};
use crate::name::Name;

mod builder;
mod error;
mod metrics;
mod permit;
#[cfg(feature = "fleet")]
mod shared;
#[cfg(feature = "fleet")]
pub(crate) use shared::{Marks, SharedState};
mod state;
mod window;

pub use builder::*;
pub use error::*;
pub use metrics::*;
pub use permit::*;
pub use state::*;
use window::*;

/// A circuit breaker: refuses calls to a failing dependency until it has had time to recover.
///
/// Share it by reference or `Arc`, or by name through the [registry](crate::registry()). All
/// methods take `&self` and are safe to call from many tasks at once.
///
/// # Time
///
/// The recovery timeout is timed on [`tokio::time::Instant`]. On Linux and Android, rejections
/// while open read the kernel's coarse monotonic clock first (a few nanoseconds, at most one
/// tick behind) and skip the full clock read while it shows the deadline more than 20 ms away;
/// failures stamp `last_failure_time` on it. A rejection's `retry_after` is never shorter than
/// the time actually left: a caller that sleeps it finds the breaker due.
///
/// With the `test-util` feature every check reads tokio's clock, so `tokio::time::pause` and
/// `advance` drive the breaker in tests. Without it, an open period that starts while tokio's
/// clock is paused is timed on tokio's clock, and one that starts while it runs is timed on the
/// real clock, by admission and by [`metrics`](Self::metrics) alike, even if a test pauses
/// tokio's clock afterwards: a test that wants virtual time to end an open period pauses
/// before the breaker opens (`#[tokio::test(start_paused = true)]`), or enables `test-util`.
///
/// ```
/// use resilience::{CircuitBreaker, CallError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), resilience::ConfigError> {
/// let breaker = CircuitBreaker::builder("zoho_mcp").failure_threshold(2).build()?;
/// for _ in 0..2 {
///     let r: Result<(), _> = breaker.call(|| async { Err::<(), _>("timeout") }).await;
///     assert!(matches!(r, Err(CallError::Failed("timeout"))));
/// }
/// // Open now: the operation is not called.
/// let r = breaker.call(|| async { Ok::<_, &str>("never runs") }).await;
/// assert!(matches!(r, Err(CallError::Rejected(_))));
/// # Ok(())
/// # }
/// ```
// `repr(C)` for the layout: the fields every call reads come first.
#[repr(C)]
pub struct CircuitBreaker {
    word: AtomicU64,
    window: Window,
    /// When an open breaker may let probes through: a [`clock::deadline`].
    open_until: AtomicU64,
    /// When the last failure was recorded: a [`clock::stamp`] (0 = never). A plain store:
    /// concurrent failures may land in either order, a tick apart at most.
    last_failure: AtomicU64,
    /// `config.recovery_timeout` in nanoseconds, the most a rejection's wait can be.
    recovery_nanos: u64,
    /// Serializes transitions and their side effects; never taken on the call path.
    transitions: Mutex<()>,
    name: Name,
    config: CircuitBreakerConfig,
    hub: Hub,
    parent_hub: Option<Arc<Hub>>,
    /// What a fleet shares with this breaker, made when one first follows it (see
    /// `shared.rs`): its half-open probe grant, read only by half-open admission, and its
    /// failures for the fleet's count.
    #[cfg(feature = "fleet")]
    fleet: shared::FleetLink,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &self.state())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// Starts building a breaker named `name` (ASCII letters, digits and `_`, so that its
    /// environment variables `CIRCUIT_BREAKER_<NAME>_<KEY>` exist).
    ///
    /// A name written in the code (`&'static str`) is kept as it is: rejections carry it
    /// without touching a reference count. Pass a `String` for a name built at run time
    /// (`name.to_owned()` for a borrowed one).
    pub fn builder(name: impl Into<Cow<'static, str>>) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new(name.into())
    }

    pub(crate) fn from_parts(
        name: Name,
        config: CircuitBreakerConfig,
        parent_hub: Option<Arc<Hub>>,
    ) -> Self {
        Self {
            word: AtomicU64::new(CircuitState::Closed as u64),
            window: Window::new(config.window_size),
            open_until: AtomicU64::new(0),
            last_failure: AtomicU64::new(0),
            recovery_nanos: clock::nanos(config.recovery_timeout),
            transitions: Mutex::new(()),
            name,
            config,
            hub: Hub::default(),
            parent_hub,
            #[cfg(feature = "fleet")]
            fleet: shared::FleetLink::new(),
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The settings the breaker runs with.
    pub fn config(&self) -> &CircuitBreakerConfig {
        &self.config
    }

    /// The current state. An open breaker whose recovery timeout has passed still reports
    /// `Open` until the next call moves it to `HalfOpen`.
    pub fn state(&self) -> CircuitState {
        state_of(self.word.load(Ordering::Acquire))
    }

    /// Asks to make a call. On success the returned [`Permit`] must be given the call's outcome
    /// ([`Permit::record_success`], [`Permit::record_failure`], [`Permit::record`]); a permit
    /// dropped without one (cancelled future, panic) counts as neither and frees its half-open
    /// slot.
    ///
    /// Fails with [`CircuitBreakerOpenError`], without calling anything, when the breaker is
    /// open, forced open, or half-open with every probe slot taken.
    ///
    /// ```
    /// use resilience::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("tier2_sdk").build()?;
    /// let permit = breaker.try_acquire().expect("closed breakers admit");
    /// let outcome: Result<u32, std::io::Error> = Ok(42); // the call
    /// permit.record(&outcome);
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, CircuitBreakerOpenError> {
        self.admit().map(|word| Admission::new(self, word))
    }

    /// Like [`try_acquire`](Self::try_acquire), for a permit that owns a handle to the breaker
    /// and can outlive a borrow of it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience::CircuitBreaker;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), resilience::ConfigError> {
    /// let breaker = Arc::new(CircuitBreaker::builder("tier1_mcp").build()?);
    /// let permit = breaker.try_acquire_owned().expect("closed breakers admit");
    /// let task = tokio::spawn(async move {
    ///     let outcome: Result<u32, String> = Ok(1); // the call, on another task
    ///     permit.record(&outcome);
    /// });
    /// task.await.unwrap();
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn try_acquire_owned(self: &Arc<Self>) -> Result<OwnedPermit, CircuitBreakerOpenError> {
        self.admit()
            .map(|word| Admission::new(Arc::clone(self), word))
    }

    /// Admission: the state word the call is admitted under, or the rejection.
    #[inline]
    fn admit(&self) -> Result<u64, CircuitBreakerOpenError> {
        let word = self.word.load(Ordering::Acquire);
        if admits_all(word) {
            return Ok(word);
        }
        // The error is built here, from the slow path's 16-byte answer (returned in
        // registers): a 40-byte result written by the callee and copied by the caller stalls
        // on the store buffer.
        self.acquire_slow(word)
            .map_err(|refusal| CircuitBreakerOpenError {
                circuit_name: self.name.clone(),
                retry_after: refusal.retry_after(),
            })
    }

    /// Not closed: the common rejection first (open, the deadline far on the coarse clock),
    /// in a function small enough to save few registers; everything else out of line.
    #[inline(never)]
    fn acquire_slow(&self, word: u64) -> Result<u64, Refusal> {
        if word & STATE_MASK == CircuitState::Open as u64 {
            // The coarse clock is read first: only `self` is kept across the read.
            if let Some(wait) = clock::certainly_before(|| self.open_until.load(Ordering::Acquire))
            {
                // To a coarse tick: never more than a whole timeout.
                let wait = wait.min(self.recovery_nanos);
                return Err(self.reject(CircuitState::Open, Some(wait)));
            }
            return self.acquire_rest(self.word.load(Ordering::Acquire));
        }
        self.acquire_rest(word)
    }

    #[cold]
    fn acquire_rest(&self, mut word: u64) -> Result<u64, Refusal> {
        loop {
            match state_of(word) {
                CircuitState::Closed | CircuitState::Disabled => return Ok(word),
                CircuitState::ForcedOpen => return Err(self.reject(CircuitState::ForcedOpen, None)),
                CircuitState::Open => {
                    let until = self.open_until.load(Ordering::Acquire);
                    let (deadline, now) = (clock::precise(until), clock::now_for(until));
                    if now < deadline {
                        return Err(self.reject(CircuitState::Open, Some(deadline - now)));
                    }
                    self.transition_from(word, CircuitState::HalfOpen, 0);
                    word = self.word.load(Ordering::Acquire);
                }
                CircuitState::HalfOpen => {
                    let in_flight = in_flight_of(word);
                    if in_flight >= self.probe_limit(word) {
                        #[cfg(feature = "fleet")]
                        self.want_probe();
                        return Err(self.reject(CircuitState::HalfOpen, Some(0)));
                    }
                    let next = half_open_word(word, in_flight + 1, successes_of(word));
                    match self.word.compare_exchange_weak(
                        word,
                        next,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Ok(next),
                        Err(actual) => word = actual,
                    }
                }
            }
        }
    }

    /// How many probes may be in flight at once in the half-open state stamped in `word`.
    #[cfg(not(feature = "fleet"))]
    #[inline]
    fn probe_limit(&self, _word: u64) -> u64 {
        u64::from(self.config.half_open_max_calls)
    }

    /// Tells the world about a refused call (in `state`, to retry after `retry_after`
    /// nanoseconds).
    #[inline]
    fn reject(&self, state: CircuitState, retry_after: Option<u64>) -> Refusal {
        events::call_rejected(&self.name, state);
        Refusal::new(retry_after)
    }

    /// Runs `operation` through the breaker: refuses it when the breaker is open, and records
    /// its outcome (every `Err` is a failure) otherwise.
    ///
    /// If the returned future is dropped before the operation finishes, nothing is recorded
    /// and any half-open slot is freed.
    pub async fn call<T, E, F, Fut>(&self, operation: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with(|_| true, operation).await
    }

    /// Like [`call`](Self::call), but only the errors for which `is_failure` returns `true`
    /// count as failures; the others count as successes (the dependency answered), and are
    /// still returned.
    ///
    /// ```
    /// use resilience::{CircuitBreaker, CallError};
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum ZohoError { NotFound, Unavailable }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), resilience::ConfigError> {
    /// let breaker = CircuitBreaker::builder("zoho_rest").failure_threshold(1).build()?;
    /// let is_failure = |e: &ZohoError| *e == ZohoError::Unavailable;
    /// let r = breaker.call_with(is_failure, || async { Err::<(), _>(ZohoError::NotFound) }).await;
    /// assert!(matches!(r, Err(CallError::Failed(ZohoError::NotFound))));
    /// assert_eq!(breaker.state(), resilience::CircuitState::Closed); // a 404 is not an outage
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_with<T, E, F, Fut, P>(
        &self,
        is_failure: P,
        operation: F,
    ) -> Result<T, CallError<E>>
    where
        P: FnOnce(&E) -> bool,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire().map_err(CallError::Rejected)?;
        let result = operation().await;
        permit.record_with(&result, is_failure);
        result.map_err(CallError::Failed)
    }

    /// A success: the hot path. Closed (or disabled) with no failure counted and no transition
    /// since admission, the word differs from the permit's stamp only by the window's cursor;
    /// a full window of successes is then left as it is, and nothing is written.
    #[inline(always)]
    fn on_success(&self, stamp: u64) {
        // The window's tally (and epoch) first: if a transition lands after the check below,
        // the result is recorded under the old epoch and does not count in the new state.
        let tally = self.window.tally();
        let word = self.word.load(Ordering::Acquire);
        if word & !CURSOR_MASK == stamp && admits_all(word) && self.window.all_succeeded(tally) {
            return;
        }
        self.on_outcome_with::<false>(tally, word, stamp);
    }

    /// A failure.
    #[inline(always)]
    fn on_failure(&self, stamp: u64) {
        let tally = self.window.tally();
        let word = self.word.load(Ordering::Acquire);
        self.on_outcome_with::<true>(tally, word, stamp);
    }

    /// Records an outcome, a failure when `FAILED`; `tally` and `word` were read in that order
    /// (see `on_success`).
    ///
    /// One CAS of the state word takes the call's window slot and moves its count (or makes
    /// the count a transition needs); then the slot is written, a failure's time stored, and a
    /// transition, if one is due, made ([`on_recorded`](Self::on_recorded)). The closed state,
    /// the common one, takes a straight path.
    ///
    /// One function per outcome. A success's calls nothing but in tail position, so it needs
    /// no frame and its CAS (which waits for every store before it) waits for no saved
    /// register; one whose slot already holds a success, with no failure rate to check, ends
    /// there.
    #[inline(never)]
    fn on_outcome_with<const FAILED: bool>(&self, tally: u64, mut word: u64, stamp: u64) {
        let failed = FAILED;
        // The state is the permit's as long as its stamp matches.
        if stamp & STATE_MASK != CircuitState::Closed as u64 {
            return self.on_other_outcome(tally, word, stamp, failed);
        }
        let threshold = self.config.failure_threshold;
        let (slot, next, failures, seen) = loop {
            if word & STAMP_MASK != stamp {
                return; // admitted before the last transition: does not count now
            }
            let slot = cursor_of(word);
            // Read before the CAS, so that this load does not wait for it.
            let seen = self.window.peek(slot);
            let moved = cursor_moved(word, slot, self.window.size);
            // A success clears the count. A count that makes a transition is not stored: the
            // transition's word replaces it, and no snapshot sees the threshold reached while
            // still closed. (Below the threshold, a count fits its field.)
            let failures = if failed { count_of(word) + 1 } else { 0 };
            let next = if !failed {
                moved & !COUNT_MASK
            } else if failures >= threshold {
                moved
            } else {
                moved + (1 << COUNT_SHIFT)
            };
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break (slot, next, failures, seen),
                Err(actual) => word = actual,
            }
        };
        // The fleet's count (when one follows this breaker): a failure, or the success that
        // ends a run of them; `word` is the state word the CAS replaced.
        #[cfg(feature = "fleet")]
        self.mark_for_fleet(failed, count_of(word));
        if failed {
            self.on_recorded::<FAILED>(slot, tally, seen, next, failures);
        } else {
            // The rate can only be reached while the window holds failures.
            let rate_due =
                tally & TALLY_FAILED_MASK != 0 && self.config.failure_rate_threshold.is_some();
            if rate_due || !self.window.holds(slot, tally, failed, seen) {
                self.on_success_recorded(slot, tally, seen, next);
            }
        }
    }

    /// [`on_recorded`](Self::on_recorded) for a success, out of line.
    #[inline(never)]
    fn on_success_recorded(&self, slot: usize, tally: u64, seen: u64, next: u64) {
        self.on_recorded::<false>(slot, tally, seen, next, 0);
    }

    /// The rest of [`on_outcome_with`](Self::on_outcome_with) once the CAS took the call's
    /// `slot` and made the state word `next` (`failures` in a row counted): the slot written
    /// (`seen` is its word as read before the CAS), a failure's time stored, the transition or
    /// the rate check.
    #[inline(always)]
    fn on_recorded<const FAILED: bool>(
        &self,
        slot: usize,
        tally: u64,
        seen: u64,
        next: u64,
        failures: u32,
    ) {
        let failed = FAILED;
        let threshold = self.config.failure_threshold;
        self.window.record_seen(slot, tally, failed, seen);
        if failed {
            self.last_failure.store(clock::stamp(), Ordering::Relaxed);
            events::call_failed(&self.name, failures, threshold);
            if failures >= threshold {
                self.transition_from(next, CircuitState::Open, failures);
            } else {
                self.check_failure_rate(next);
            }
        } else if tally & TALLY_FAILED_MASK != 0 {
            self.check_failure_rate(next);
        }
    }

    /// [`on_outcome_with`](Self::on_outcome_with) in the other states that admit calls.
    #[cold]
    fn on_other_outcome(&self, tally: u64, mut word: u64, stamp: u64, failed: bool) {
        let (slot, next, verdict) = loop {
            if word & STAMP_MASK != stamp {
                return;
            }
            let slot = cursor_of(word);
            let moved = cursor_moved(word, slot, self.window.size);
            let (next, verdict) = match (state_of(word), failed) {
                (CircuitState::HalfOpen, false) => {
                    let successes = successes_of(word) + 1;
                    if successes >= u64::from(self.config.success_threshold) {
                        (moved, Verdict::Close)
                    } else {
                        let in_flight = in_flight_of(word).saturating_sub(1);
                        (
                            half_open_word(moved, in_flight, successes),
                            Verdict::Counted,
                        )
                    }
                }
                // Any failure of a probe reopens: one failure is the threshold here.
                (CircuitState::HalfOpen, true) => (moved, Verdict::Reopen),
                // Disabled: counted in the window only. Open states admit no permits.
                (CircuitState::Disabled, _) => (moved, Verdict::Counted),
                (CircuitState::Closed, true) => {
                    return self.on_outcome_with::<true>(tally, word, stamp);
                }
                (CircuitState::Closed, false) => {
                    return self.on_outcome_with::<false>(tally, word, stamp);
                }
                _ => return,
            };
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break (slot, next, verdict),
                Err(actual) => word = actual,
            }
        };
        self.window.record(slot, tally, failed);
        if failed {
            self.last_failure.store(clock::stamp(), Ordering::Relaxed);
        }
        match verdict {
            Verdict::Counted => {}
            Verdict::Close => {
                self.transition_from(next, CircuitState::Closed, 0);
            }
            Verdict::Reopen => {
                events::call_failed(&self.name, 1, 1);
                self.transition_from(next, CircuitState::Open, 1);
            }
        }
    }

    /// Opens the breaker (still in the state stamped in `word`) if the failure-rate rule
    /// fires now. Without the rule, one compare.
    #[inline]
    fn check_failure_rate(&self, word: u64) {
        if self.config.failure_rate_threshold.is_some() {
            self.check_failure_rate_now(word);
        }
    }

    #[inline(never)]
    fn check_failure_rate_now(&self, word: u64) {
        if let Some(in_window) = self.failure_rate_tripped() {
            self.transition_from(word, CircuitState::Open, in_window);
        }
    }

    /// The window's failure count when the failure-rate rule fires now.
    fn failure_rate_tripped(&self) -> Option<u32> {
        let threshold = self.config.failure_rate_threshold?;
        let (total, failures) = self.window.snapshot();
        (total >= self.config.minimum_calls && f64::from(failures) >= threshold * f64::from(total))
            .then_some(failures)
    }

    fn on_abandon(&self, stamp: u64) {
        let mut word = self.word.load(Ordering::Acquire);
        while word & STAMP_MASK == stamp && state_of(word) == CircuitState::HalfOpen {
            let next = half_open_word(
                word,
                in_flight_of(word).saturating_sub(1),
                successes_of(word),
            );
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// The lock serializing transitions, held while the guard lives (taken as it is when
    /// poisoned).
    fn lock_transitions(&self) -> MutexGuard<'_, ()> {
        self.transitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves from the state stamped in `from` to `to`, unless another transition happened
    /// first (then the other one wins and this does nothing). Returns whether it moved.
    fn transition_from(&self, from: u64, to: CircuitState, failures: u32) -> bool {
        let _guard = self.lock_transitions();
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if word & STAMP_MASK != from & STAMP_MASK {
                return false;
            }
            if self.apply_transition(word, to, failures, self.config.recovery_timeout) {
                return true;
            }
            word = self.word.load(Ordering::Acquire);
        }
    }

    /// Moves to `to` from whatever state the breaker is in (operator controls).
    fn transition_any(&self, to: CircuitState) {
        let _guard = self.lock_transitions();
        loop {
            let word = self.word.load(Ordering::Acquire);
            if self.apply_transition(word, to, 0, self.config.recovery_timeout) {
                return;
            }
        }
    }

    /// With the transition lock held: CAS `word` to the first word of `to`, and on success apply
    /// the side effects and tell the world.
    /// `failures` is what opened it, for the event and the metrics of the open state; an open
    /// state lasts `open_for` (the recovery timeout, or what the fleet has left of it).
    fn apply_transition(
        &self,
        word: u64,
        to: CircuitState,
        failures: u32,
        open_for: Duration,
    ) -> bool {
        let from = state_of(word);
        if to == CircuitState::Open {
            let deadline = clock::deadline(open_for);
            self.open_until.store(deadline, Ordering::Release);
        }
        let count = if to == CircuitState::Open {
            u64::from(failures)
        } else {
            0
        };
        if self
            .word
            .compare_exchange(
                word,
                next_word(word, to, count),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return false;
        }
        if to == CircuitState::Closed {
            self.window.clear();
        }
        if from != to {
            events::state_changed(&self.name, from, to, failures, self.config.recovery_timeout);
            let parent = self.parent_hub.as_deref();
            // Built only for a listener: a `'static` name becomes an `Arc<str>` here.
            if self.hub.listening() || parent.is_some_and(Hub::listening) {
                let change = StateChange {
                    circuit_breaker: self.name.to_arc(),
                    old_state: from,
                    new_state: to,
                    at: SystemTime::now(),
                };
                self.hub.publish(&change);
                if let Some(parent) = parent {
                    parent.publish(&change);
                }
            }
        }
        true
    }

    /// Closes the breaker and clears its counters and window (the guide's `reset()`). Calls in
    /// flight when it happens do not count afterwards.
    pub fn reset(&self) {
        self.transition_any(CircuitState::Closed);
    }

    /// Opens the breaker until [`reset`](Self::reset): every call is refused, whatever the
    /// recovery timeout.
    pub fn force_open(&self) {
        self.transition_any(CircuitState::ForcedOpen);
    }

    /// Switches the breaker off until [`reset`](Self::reset): every call is admitted and still
    /// counted in the metrics, and the breaker never opens.
    pub fn disable(&self) {
        self.transition_any(CircuitState::Disabled);
    }

    /// Lets an open breaker probe now instead of waiting out the rest of its recovery timeout
    /// (moves it to half-open). Does nothing in any other state; returns whether it moved.
    ///
    /// For a health check that has just seen the dependency answer again.
    pub fn try_half_open(&self) -> bool {
        let word = self.word.load(Ordering::Acquire);
        state_of(word) == CircuitState::Open
            && self.transition_from(word, CircuitState::HalfOpen, 0)
    }

    /// Receives every state change of this breaker from now on. See [`crate::events`].
    pub fn subscribe(&self) -> broadcast::Receiver<StateChange> {
        self.hub.subscribe()
    }

    /// A snapshot of the breaker's state and counters (the guide's metrics structure).
    ///
    /// ```
    /// use resilience::{CircuitBreaker, CircuitState};
    ///
    /// let breaker = CircuitBreaker::builder("tier3_rest").build()?;
    /// breaker.try_acquire().unwrap().record_failure();
    /// breaker.try_acquire().unwrap().record_success();
    /// let m = breaker.metrics();
    /// assert_eq!(m.state, CircuitState::Closed);
    /// assert_eq!(m.failure_count, 0); // a success clears the consecutive count
    /// assert_eq!(m.total_calls, 2);
    /// assert_eq!(m.error_rate, 0.5);
    /// assert!(m.last_failure_time.is_some());
    /// assert_eq!(m.time_until_retry, None);
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        let word = self.word.load(Ordering::Acquire);
        let state = state_of(word);
        let (total_calls, failures) = self.window.snapshot();
        let last_failure = self.last_failure.load(Ordering::Relaxed);
        Metrics {
            state,
            failure_count: match state {
                CircuitState::Closed | CircuitState::Open | CircuitState::Disabled => {
                    count_of(word)
                }
                CircuitState::HalfOpen | CircuitState::ForcedOpen => 0,
            },
            success_count: match state {
                CircuitState::HalfOpen => successes_of(word) as u32,
                _ => 0,
            },
            total_calls,
            error_rate: match total_calls {
                0 => 0.0,
                n => f64::from(failures) / f64::from(n),
            },
            last_failure_time: (last_failure != 0).then(|| clock::wall(last_failure)),
            // On the clock admission judges this open period on (see `clock::now_for`).
            time_until_retry: (state == CircuitState::Open).then(|| {
                let until = self.open_until.load(Ordering::Acquire);
                Duration::from_nanos(clock::precise(until).saturating_sub(clock::now_for(until)))
            }),
        }
    }
}

/// What a recorded outcome outside the closed state asks for once its slot is written.
#[derive(Clone, Copy)]
enum Verdict {
    /// Nothing more.
    Counted,
    /// The probe that closes a half-open breaker.
    Close,
    /// A failed probe: open again.
    Reopen,
}
