//! The peers, each configured like this crate's breaker (open after 5 consecutive failures, stay
//! open 1 h) and called through its own public API. Included by the benchmarks, the memory test
//! and the `shape` example with `#[path]`.

use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use failsafe::StateMachine;
use failsafe::backoff::{self, Constant};
use failsafe::failure_policy::{ConsecutiveFailures, consecutive_failures};
use recloser::{AsyncRecloser, Recloser};
use resilience_benches::{
    BenchError, FAILURE_THRESHOLD, HALF_OPEN_PROBES, OPEN_WAIT, Outcome, Subject, block_on,
    operation,
};
use tower_resilience_circuitbreaker::{
    CircuitBreaker as TowerBreaker, CircuitBreakerConfigBuilder, CircuitBreakerError,
    CircuitBreakerLayer, DefaultClassifier,
};
use tower_service::Service;

type FailsafeBreaker = StateMachine<ConsecutiveFailures<Constant>, ()>;

fn failsafe_breaker() -> FailsafeBreaker {
    failsafe::Config::new()
        .failure_policy(consecutive_failures(
            FAILURE_THRESHOLD,
            backoff::constant(OPEN_WAIT),
        ))
        .build()
}

/// failsafe through its permit-style sync API: `is_call_permitted()`, then `on_success()` or
/// `on_error()`. Its half-open state closes on the first success and reopens on the first
/// failure, so no steady half-open shape exists.
pub struct FailsafeSync(FailsafeBreaker);

impl Subject for FailsafeSync {
    const NAME: &'static str = "failsafe";

    fn closed() -> Self {
        FailsafeSync(failsafe_breaker())
    }

    fn half_open() -> Option<Self> {
        None
    }

    fn share(&self) -> Self {
        FailsafeSync(self.0.clone())
    }

    #[inline]
    fn call(&mut self, fail: bool) -> Outcome {
        if !self.0.is_call_permitted() {
            return Outcome::Rejected;
        }
        let result = operation(fail);
        match result {
            Ok(_) => self.0.on_success(),
            Err(_) => self.0.on_error(),
        }
        Outcome::of(&result)
    }
}

/// failsafe through its futures API, `failsafe::futures::CircuitBreaker::call`.
pub struct FailsafeAsync(FailsafeBreaker);

impl Subject for FailsafeAsync {
    const NAME: &'static str = "failsafe";

    fn closed() -> Self {
        FailsafeAsync(failsafe_breaker())
    }

    fn half_open() -> Option<Self> {
        None
    }

    fn share(&self) -> Self {
        FailsafeAsync(self.0.clone())
    }

    #[inline]
    fn call(&mut self, fail: bool) -> Outcome {
        use failsafe::futures::CircuitBreaker as _;
        match block_on(self.0.call(ready(operation(fail)))) {
            Ok(_) => Outcome::Ok,
            Err(failsafe::Error::Inner(_)) => Outcome::Failed,
            Err(failsafe::Error::Rejected) => Outcome::Rejected,
        }
    }
}

/// recloser's ring buffer of the last 5 calls with a failure-rate threshold of 100 % is the rule
/// "5 consecutive failures". A fresh recloser only computes the rate once its buffer is full,
/// after the 5th call, so it opens on the 6th failure in a row; later, on the 5th.
fn recloser_builder() -> recloser::RecloserBuilder {
    Recloser::custom()
        .error_rate(1.0)
        .closed_len(FAILURE_THRESHOLD as usize)
        .open_wait(OPEN_WAIT)
}

/// A recloser that moves to half-open on the first call after it trips, and stays half-open for
/// [`HALF_OPEN_PROBES`] calls.
fn recloser_half_open() -> Recloser {
    recloser_builder()
        .open_wait(Duration::ZERO)
        .half_open_len(HALF_OPEN_PROBES as usize)
        .build()
}

fn into_half_open<S: Subject>(mut subject: S) -> S {
    for _ in 0..S::FAILURES_TO_TRIP {
        assert_eq!(subject.call(true), Outcome::Failed, "{}", S::NAME);
    }
    // The wait is zero: this call moves it to half-open and is its first probe.
    assert_eq!(subject.call(false), Outcome::Ok, "{}", S::NAME);
    subject
}

fn of_recloser<T>(result: Result<T, recloser::Error<BenchError>>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(recloser::Error::Inner(_)) => Outcome::Failed,
        Err(recloser::Error::Rejected) => Outcome::Rejected,
    }
}

/// recloser through its sync API, `Recloser::call` (it has no permit API).
pub struct RecloserSync(Arc<Recloser>);

impl Subject for RecloserSync {
    const NAME: &'static str = "recloser";
    const FAILURES_TO_TRIP: u32 = FAILURE_THRESHOLD + 1;

    fn closed() -> Self {
        RecloserSync(Arc::new(recloser_builder().build()))
    }

    fn half_open() -> Option<Self> {
        Some(into_half_open(RecloserSync(Arc::new(recloser_half_open()))))
    }

    fn share(&self) -> Self {
        RecloserSync(Arc::clone(&self.0))
    }

    #[inline]
    fn call(&mut self, fail: bool) -> Outcome {
        of_recloser(self.0.call(|| operation(fail)))
    }
}

/// recloser through its async API, `AsyncRecloser::call`.
pub struct RecloserAsync(AsyncRecloser);

impl Subject for RecloserAsync {
    const NAME: &'static str = "recloser";
    const FAILURES_TO_TRIP: u32 = FAILURE_THRESHOLD + 1;

    fn closed() -> Self {
        RecloserAsync(AsyncRecloser::from(recloser_builder().build()))
    }

    fn half_open() -> Option<Self> {
        Some(into_half_open(RecloserAsync(AsyncRecloser::from(
            recloser_half_open(),
        ))))
    }

    fn share(&self) -> Self {
        RecloserAsync(self.0.clone())
    }

    #[inline]
    fn call(&mut self, fail: bool) -> Outcome {
        of_recloser(block_on(self.0.call(ready(operation(fail)))))
    }
}

/// The inner service of the tower breaker: [`operation`], ready at once.
#[derive(Clone, Copy)]
pub struct Operation;

impl Service<bool> for Operation {
    type Response = u64;
    type Error = BenchError;
    type Future = Ready<Result<u64, BenchError>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BenchError>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, fail: bool) -> Self::Future {
        ready(operation(fail))
    }
}

fn tower_builder() -> CircuitBreakerConfigBuilder<DefaultClassifier> {
    CircuitBreakerLayer::builder()
        .consecutive_failures(FAILURE_THRESHOLD as usize)
        .wait_duration_in_open(OPEN_WAIT)
}

/// tower-resilience-circuitbreaker through its only API, the tower `Service`: `poll_ready`,
/// then `call`, polled by [`block_on`].
pub struct Tower(TowerBreaker<Operation, DefaultClassifier>);

impl Subject for Tower {
    const NAME: &'static str = "tower_resilience";

    fn closed() -> Self {
        let layer = tower_builder().build().expect("a valid configuration");
        Tower(layer.layer_fn(Operation))
    }

    fn half_open() -> Option<Self> {
        let layer = tower_builder()
            .wait_duration_in_open(Duration::ZERO)
            .permitted_calls_in_half_open(HALF_OPEN_PROBES as usize)
            .build()
            .expect("a valid configuration");
        Some(into_half_open(Tower(layer.layer_fn(Operation))))
    }

    fn share(&self) -> Self {
        Tower(self.0.clone())
    }

    #[inline]
    fn call(&mut self, fail: bool) -> Outcome {
        let service = &mut self.0;
        let result = block_on(async {
            std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
            service.call(fail).await
        });
        match result {
            Ok(_) => Outcome::Ok,
            Err(CircuitBreakerError::OpenCircuit) => Outcome::Rejected,
            Err(_) => Outcome::Failed,
        }
    }
}
