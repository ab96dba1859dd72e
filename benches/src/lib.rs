//! What the benchmarks and the memory checks of `resilience` share: the operation every breaker
//! guards, the executor every async path is polled with, the common configuration, and the
//! [`Subject`]s, one per way of calling this crate's breaker. The peers' subjects live beside the
//! benchmarks (`shared/peers.rs`), since the peers are dev-dependencies.
//!
//! A separate package rather than `resilience/benches`: the runtime crate's dev-dependencies
//! switch on tokio's `test-util`, under which `tokio::time::Instant::now()` consults a mockable
//! clock. This package depends on `resilience` and on tokio without `test-util`, so that
//! `cargo bench -p resilience-benches` measures the build users get. See `BENCHMARKS.md`.
//!
//! ```
//! use resilience_benches::{Outcome, Permits, Subject};
//!
//! let mut breaker = Permits::closed();
//! assert_eq!(breaker.call(false), Outcome::Ok);
//! assert_eq!(Permits::tripped().call(false), Outcome::Rejected);
//! ```

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience::{
    CallError, CircuitBreaker, CircuitBreakerBuilder, CircuitState, circuit_breaker, fallback,
    retry,
};

/// Consecutive failures that open every breaker under test.
pub const FAILURE_THRESHOLD: u32 = 5;

/// How long every breaker under test stays open: long enough never to end during a run.
pub const OPEN_WAIT: Duration = Duration::from_secs(3600);

/// Probes a half-open breaker admits, and successes that close it, in the half-open shape: more
/// than [`HALF_OPEN_CHUNK`], so that the breaker stays half-open through a chunk.
pub const HALF_OPEN_PROBES: u32 = 10_000;

/// Calls timed on one half-open breaker before a fresh one is made (untimed).
pub const HALF_OPEN_CHUNK: u64 = 5_000;

/// Threads calling one shared breaker in the contended shape.
pub const THREADS: usize = 2;

/// The error of the guarded operation, for every library alike.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The operation failed.
    #[error("the operation failed")]
    Failed,
    /// A breaker refused (the attributes' rejections come back as this).
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

/// The guarded operation: returns at once, `Ok(42)` or, when `fail`, an error.
#[inline]
pub fn operation(fail: bool) -> Result<u64, BenchError> {
    if fail {
        Err(BenchError::Failed)
    } else {
        Ok(42)
    }
}

/// Polls `future` to completion with a no-op waker: the minimal executor every async path is
/// measured with. The futures measured here are ready on their first poll; one that is not is
/// polled again at once (a spin), which is what a lock future shared by two threads needs.
///
/// ```
/// assert_eq!(resilience_benches::block_on(async { 7 }), 7);
/// ```
#[inline]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::hint::spin_loop();
    }
}

/// What became of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Admitted, and the operation succeeded.
    Ok,
    /// Admitted, and the operation failed.
    Failed,
    /// Refused by the breaker; the operation did not run.
    Rejected,
}

impl Outcome {
    /// The outcome of an admitted call's result.
    #[inline]
    pub fn of<T, E>(result: &Result<T, E>) -> Self {
        match result {
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Failed,
        }
    }
}

/// One library's breaker, called one way (sync permit API, async API, attribute).
pub trait Subject: Sized + Send {
    /// The name in the benchmark ids and the tables.
    const NAME: &'static str;

    /// A closed breaker with the common configuration: opens after [`FAILURE_THRESHOLD`]
    /// consecutive failures and stays open for [`OPEN_WAIT`].
    fn closed() -> Self;

    /// A half-open breaker that keeps admitting and stays half-open for at least
    /// [`HALF_OPEN_CHUNK`] successful probes; `None` where the library cannot express it.
    fn half_open() -> Option<Self>;

    /// Another handle on the same breaker, for another thread.
    fn share(&self) -> Self;

    /// One call of [`operation`]`(fail)` through the breaker.
    fn call(&mut self, fail: bool) -> Outcome;

    /// Failures in a row that open a breaker fresh from [`closed`](Self::closed):
    /// [`FAILURE_THRESHOLD`], unless the library needs more on a fresh breaker.
    const FAILURES_TO_TRIP: u32 = FAILURE_THRESHOLD;

    /// A breaker opened by [`FAILURES_TO_TRIP`](Self::FAILURES_TO_TRIP) failures.
    fn tripped() -> Self {
        let mut subject = Self::closed();
        for _ in 0..Self::FAILURES_TO_TRIP {
            assert_eq!(subject.call(true), Outcome::Failed, "{}", Self::NAME);
        }
        assert_eq!(subject.call(false), Outcome::Rejected, "{}", Self::NAME);
        subject
    }
}

/// The common configuration for this crate's breaker, the environment ignored.
pub fn builder(name: impl Into<std::borrow::Cow<'static, str>>) -> CircuitBreakerBuilder {
    CircuitBreaker::builder(name)
        .failure_threshold(FAILURE_THRESHOLD)
        .recovery_timeout(OPEN_WAIT)
        .ignore_env()
}

fn built(builder: CircuitBreakerBuilder) -> Arc<CircuitBreaker> {
    Arc::new(builder.build().expect("a valid configuration"))
}

/// The half-open configuration: [`HALF_OPEN_PROBES`] probes in flight and successes to close.
fn half_open_builder(name: &'static str) -> CircuitBreakerBuilder {
    builder(name)
        .half_open_max_calls(HALF_OPEN_PROBES)
        .success_threshold(HALF_OPEN_PROBES)
}

/// Trips `breaker` with failures through `call`, then moves it to half-open.
fn into_half_open(breaker: &CircuitBreaker, mut call: impl FnMut(bool) -> Outcome) {
    for _ in 0..FAILURE_THRESHOLD {
        call(true);
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    assert!(breaker.try_half_open());
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
}

/// This crate's breaker through its sync permit API: `try_acquire()`, then
/// `permit.record(&result)`.
pub struct Permits(pub Arc<CircuitBreaker>);

impl Subject for Permits {
    const NAME: &'static str = "resilience";

    fn closed() -> Self {
        Permits(built(builder("bench_sync")))
    }

    fn half_open() -> Option<Self> {
        let mut subject = Permits(built(half_open_builder("bench_sync_half_open")));
        let breaker = Arc::clone(&subject.0);
        into_half_open(&breaker, |fail| subject.call(fail));
        Some(subject)
    }

    fn share(&self) -> Self {
        Permits(Arc::clone(&self.0))
    }

    #[inline]
    fn call(&mut self, fail: bool) -> Outcome {
        match self.0.try_acquire() {
            Ok(permit) => {
                let result = operation(fail);
                permit.record(&result);
                Outcome::of(&result)
            }
            Err(_) => Outcome::Rejected,
        }
    }
}

/// This crate's breaker through its async API, `breaker.call(|| async { .. })`, polled by
/// [`block_on`]: the hand-written form of what `#[circuit_breaker]` generates.
pub struct Calls(pub Arc<CircuitBreaker>);

impl Subject for Calls {
    const NAME: &'static str = "resilience";

    fn closed() -> Self {
        Calls(built(builder("bench_async")))
    }

    fn half_open() -> Option<Self> {
        let mut subject = Calls(built(half_open_builder("bench_async_half_open")));
        let breaker = Arc::clone(&subject.0);
        into_half_open(&breaker, |fail| subject.call(fail));
        Some(subject)
    }

    fn share(&self) -> Self {
        Calls(Arc::clone(&self.0))
    }

    #[inline]
    fn call(&mut self, fail: bool) -> Outcome {
        match block_on(self.0.call(|| async move { operation(fail) })) {
            Ok(_) => Outcome::Ok,
            Err(CallError::Failed(_)) => Outcome::Failed,
            Err(CallError::Rejected(_)) => Outcome::Rejected,
        }
    }
}

/// The breaker name of [`guarded`].
pub const GUARDED: &str = "bench_attr";

/// The breaker name of [`guarded_probe`].
pub const GUARDED_PROBE: &str = "bench_attr_probe";

/// [`operation`] under `#[circuit_breaker]`, with the common configuration.
#[circuit_breaker(name = "bench_attr", failure_threshold = 5, recovery_timeout = "1h")]
pub async fn guarded(fail: bool) -> Result<u64, BenchError> {
    operation(fail)
}

/// [`operation`] under `#[circuit_breaker]`, with the half-open configuration.
#[circuit_breaker(
    name = "bench_attr_probe",
    failure_threshold = 5,
    recovery_timeout = "1h",
    half_open_max_calls = 10000,
    success_threshold = 10000
)]
pub async fn guarded_probe(fail: bool) -> Result<u64, BenchError> {
    operation(fail)
}

/// The registered breaker named `name`, registered by one call of `call` if need be, reset.
fn registered(name: &str, call: impl FnOnce()) -> Arc<CircuitBreaker> {
    if resilience::registry().get(name).is_none() {
        call();
    }
    let breaker = resilience::registry()
        .get(name)
        .expect("registered by its first call");
    breaker.reset();
    breaker
}

#[inline]
fn outcome_of_attr(result: Result<u64, BenchError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(BenchError::Failed) => Outcome::Failed,
        Err(BenchError::Resilience(_)) => Outcome::Rejected,
    }
}

/// This crate's breaker through `#[circuit_breaker]` ([`guarded`]), polled by [`block_on`].
///
/// Every handle shares the one breaker of the call site, registered as [`GUARDED`]; `closed()`
/// resets it.
pub struct Attribute;

impl Subject for Attribute {
    const NAME: &'static str = "resilience_attr";

    fn closed() -> Self {
        registered(GUARDED, || drop(block_on(guarded(false))));
        Attribute
    }

    /// See [`AttributeProbe`].
    fn half_open() -> Option<Self> {
        None
    }

    fn share(&self) -> Self {
        Attribute
    }

    #[inline]
    fn call(&mut self, fail: bool) -> Outcome {
        outcome_of_attr(block_on(guarded(fail)))
    }
}

/// This crate's breaker through `#[circuit_breaker]` with the half-open configuration
/// ([`guarded_probe`]), polled by [`block_on`]. The attribute's breaker is moved to half-open
/// through the registry, as an operator would.
pub struct AttributeProbe;

impl Subject for AttributeProbe {
    const NAME: &'static str = "resilience_attr";

    fn closed() -> Self {
        registered(GUARDED_PROBE, || drop(block_on(guarded_probe(false))));
        AttributeProbe
    }

    fn half_open() -> Option<Self> {
        let breaker = registered(GUARDED_PROBE, || drop(block_on(guarded_probe(false))));
        let mut subject = AttributeProbe;
        into_half_open(&breaker, |fail| subject.call(fail));
        Some(subject)
    }

    fn share(&self) -> Self {
        AttributeProbe
    }

    #[inline]
    fn call(&mut self, fail: bool) -> Outcome {
        outcome_of_attr(block_on(guarded_probe(fail)))
    }
}

/// [`operation`] under `#[retry]` alone.
#[retry(max_attempts = 3, base_delay = "1s")]
pub async fn retried(fail: bool) -> Result<u64, BenchError> {
    operation(fail)
}

/// [`operation`] under `#[fallback]` alone, with one fallback tier ([`secondary`]).
#[fallback(secondary)]
pub async fn with_fallback(fail: bool) -> Result<u64, BenchError> {
    operation(fail)
}

/// The fallback tier of [`with_fallback`] and [`full_stack`].
pub async fn secondary(_fail: bool) -> Result<u64, BenchError> {
    Ok(7)
}

/// [`operation`] under the guide's three attributes together.
#[fallback(secondary)]
#[retry(max_attempts = 3, base_delay = "1s")]
#[circuit_breaker(
    name = "bench_attr_stack",
    failure_threshold = 5,
    recovery_timeout = "1h"
)]
pub async fn full_stack(fail: bool) -> Result<u64, BenchError> {
    operation(fail)
}
