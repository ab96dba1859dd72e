//! Admission permits: leave to make one call, recording its outcome or freeing its slot on drop.

use super::*;

/// Leave to make one call through a [`CircuitBreaker`], from [`CircuitBreaker::try_acquire`].
///
/// Give it the call's outcome with one of its `record` methods. Dropping it without doing so
/// (the call was cancelled or panicked) records nothing and frees its half-open slot.
pub type Permit<'a> = Admission<&'a CircuitBreaker>;

/// A [`Permit`] that owns a handle to its breaker, from [`CircuitBreaker::try_acquire_owned`]:
/// for a call that outlives a borrow (a `tower` future, a spawned task).
pub type OwnedPermit = Admission<Arc<CircuitBreaker>>;

/// Leave to make one call, holding its breaker through `B` (a reference for [`Permit`], an
/// `Arc` for [`OwnedPermit`]).
#[must_use = "record the call's outcome with `record_success`, `record_failure` or `record`"]
#[derive(Debug)]
pub struct Admission<B: Deref<Target = CircuitBreaker>> {
    pub(super) breaker: B,
    /// The state word it was admitted under, without the count; [`RECORDED`] once its outcome
    /// is recorded. (A flag beside it would make the permit 24 bytes, copied in pieces that
    /// stall the store buffer.)
    pub(super) stamp: u64,
    /// When the call started, for the latency histogram (see [`crate::metrics`]).
    #[cfg(feature = "metrics")]
    pub(super) timer: crate::metrics::CallTimer,
}

/// A refused call's `retry_after` in nanoseconds (`u64::MAX` for none): what the slow path of
/// admission returns, small enough for registers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Refusal(u64);

impl Refusal {
    pub(super) fn new(retry_after: Option<u64>) -> Self {
        Refusal(retry_after.map_or(u64::MAX, |nanos| nanos.min(u64::MAX - 1)))
    }

    #[inline]
    pub(super) fn retry_after(self) -> Option<Duration> {
        (self.0 != u64::MAX).then(|| Duration::from_nanos(self.0))
    }
}

/// The stamp of a permit whose outcome was recorded: no state has these bits.
pub(super) const RECORDED: u64 = STATE_MASK;

impl<B: Deref<Target = CircuitBreaker>> Admission<B> {
    pub(super) fn new(breaker: B, word: u64) -> Self {
        Self {
            breaker,
            stamp: word & STAMP_MASK,
            #[cfg(feature = "metrics")]
            timer: crate::metrics::CallTimer::start(),
        }
    }

    /// The state the call was admitted in.
    pub fn admitted_in(&self) -> CircuitState {
        state_of(self.stamp)
    }

    /// The call succeeded.
    #[inline(always)]
    pub fn record_success(mut self) {
        let stamp = std::mem::replace(&mut self.stamp, RECORDED);
        // Timed before recording: a call that moves the breaker does not count the transition.
        #[cfg(feature = "metrics")]
        self.timer.finish(&self.breaker.name, false);
        self.breaker.on_success(stamp);
    }

    /// The call failed.
    pub fn record_failure(mut self) {
        let stamp = std::mem::replace(&mut self.stamp, RECORDED);
        #[cfg(feature = "metrics")]
        self.timer.finish(&self.breaker.name, true);
        self.breaker.on_failure(stamp);
    }

    /// Records `Ok` as a success and every `Err` as a failure.
    #[inline(always)]
    pub fn record<T, E>(self, result: &Result<T, E>) {
        self.record_with(result, |_| true);
    }

    /// Records `Ok` as a success, and an `Err` as a failure when `is_failure` says so (as a
    /// success otherwise: the dependency answered).
    #[inline(always)]
    pub fn record_with<T, E>(self, result: &Result<T, E>, is_failure: impl FnOnce(&E) -> bool) {
        match result {
            Err(e) if is_failure(e) => self.record_failure(),
            _ => self.record_success(),
        }
    }
}

impl<B: Deref<Target = CircuitBreaker>> Drop for Admission<B> {
    #[inline]
    fn drop(&mut self) {
        // Unrecorded (a recorded permit's stamp is `RECORDED`) and admitted half-open.
        if self.stamp & STATE_MASK == CircuitState::HalfOpen as u64 {
            self.breaker.on_abandon(self.stamp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 16 bytes without the `metrics` feature: larger, a permit is copied in pieces that stall
    /// the store buffer on the call path (see BENCHMARKS.md). The feature adds its call timer.
    #[test]
    fn a_permit_is_sixteen_bytes_and_the_call_timer_adds_sixteen() {
        let timer = if cfg!(feature = "metrics") { 16 } else { 0 };
        assert_eq!(size_of::<Permit<'static>>(), 16 + timer);
        assert_eq!(size_of::<OwnedPermit>(), 16 + timer);
    }
}
