//! Support for the code that `#[circuit_breaker]`, `#[retry]` and `#[fallback]` generate.
//!
//! Not a public API: it may change in any release. Generated code names these items as
//! `::resilience::__private::…`.
//!
//! The type rules of the attributes that only the type checker can see are traits here, each
//! with a `#[diagnostic::on_unimplemented]` message, and checked at the user's own tokens: the
//! return type, an argument's type, a predicate's path, a tier's name.

use std::fmt;
use std::future::IntoFuture;
use std::sync::{Arc, OnceLock};

pub use tokio::time::sleep;

pub use crate::breaker::CallError;
use crate::breaker::{CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerConfig};
use crate::error::{AllTiersFailedError, BoxError, Error, TierFailure, TierOutcome};
use crate::events;
use crate::retry::{RetryPolicy, RetryPolicyBuilder, Verdict};

/// A call site's breaker: looked up (or registered) in the global registry once, then read
/// with one atomic load per call.
pub struct BreakerCell(OnceLock<Arc<CircuitBreaker>>);

impl BreakerCell {
    /// An empty cell, for a `static`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }

    /// The breaker, registered from `make` on first use.
    #[inline]
    pub fn get_or_init(&self, make: impl FnOnce() -> CircuitBreakerBuilder) -> &CircuitBreaker {
        self.0.get_or_init(|| register(make()))
    }
}

#[cold]
fn register(builder: CircuitBreakerBuilder) -> Arc<CircuitBreaker> {
    let name = builder.name().to_owned();
    crate::registry().register(builder).unwrap_or_else(|error| {
        // The attribute checked these values at compile time, so this is not expected; a call
        // must still not panic over it.
        tracing::error!(
            target: "resilience",
            event = "config_error",
            circuit_breaker = &*name,
            error = %error,
            "invalid circuit breaker configuration; using the defaults"
        );
        Arc::new(CircuitBreaker::from_parts(
            name,
            CircuitBreakerConfig::default(),
            None,
        ))
    })
}

/// A call site's retry policy, built once.
pub struct RetryCell(OnceLock<RetryPolicy>);

impl RetryCell {
    /// An empty cell, for a `static`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }

    /// The policy, built from `make` on first use.
    #[inline]
    pub fn get_or_init(&self, make: impl FnOnce() -> RetryPolicyBuilder) -> &RetryPolicy {
        self.0.get_or_init(|| {
            make().build().unwrap_or_else(|error| {
                tracing::error!(
                    target: "resilience",
                    event = "config_error",
                    error = %error,
                    "invalid retry policy; using the defaults"
                );
                RetryPolicy::default()
            })
        })
    }
}

/// The return type of a guarded function.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Result`: a function under #[circuit_breaker], #[retry] or #[fallback] must return `Result<T, E>`",
    label = "not a `Result<T, E>`"
)]
pub trait ResultReturn {
    /// `T`.
    type Ok;
    /// `E`.
    type Err;
    /// The value as a `Result`.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
}

impl<T, E> ResultReturn for Result<T, E> {
    type Ok = T;
    type Err = E;
    #[inline]
    fn into_result(self) -> Self {
        self
    }
}

/// Checks at the return type that it is a `Result`.
#[inline]
pub fn assert_result<R: ResultReturn>() {}

/// An error type that can carry the runtime's errors.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` does not implement `From<resilience::Error>`",
    label = "a breaker's rejection, or all tiers failing, is returned as this error type",
    note = "add `impl From<resilience::Error> for {Self}`, e.g. with a variant `Resilience(#[from] resilience::Error)`"
)]
pub trait FromResilienceError: From<Error> {}

#[diagnostic::do_not_recommend]
impl<E: From<Error>> FromResilienceError for E {}

/// Checks at the return type that the error converts from `resilience::Error`.
#[inline]
pub fn assert_from_error<E: FromResilienceError>() {}

/// An error type that retries and fallbacks can log.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` does not implement `Display`",
    label = "#[retry] logs each failed attempt's error",
    note = "implement `std::fmt::Display` for `{Self}` (for example with `thiserror`)"
)]
pub trait LoggableError: fmt::Display {}

#[diagnostic::do_not_recommend]
impl<E: fmt::Display> LoggableError for E {}

/// Checks at the return type that the error can be logged.
#[inline]
pub fn assert_loggable<E: LoggableError>() {}

/// An error type that `AllTiersFailedError` can hold.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` must be a `std::error::Error + Send + Sync + 'static` for #[fallback]",
    label = "when every tier fails, each tier's error is kept in `AllTiersFailedError`",
    note = "derive it with `thiserror`, or implement `std::error::Error` for `{Self}`"
)]
pub trait TierError: std::error::Error + Send + Sync + 'static {}

#[diagnostic::do_not_recommend]
impl<E: std::error::Error + Send + Sync + 'static> TierError for E {}

/// Checks at the return type that tier errors can be kept.
#[inline]
pub fn assert_tier_error<E: TierError>() {}

/// An owned argument, cloned for each run of the function's body.
#[diagnostic::on_unimplemented(
    message = "the argument type `{Self}` is not `Clone`",
    label = "#[retry] and #[fallback] run the function more than once and clone its owned arguments for each run",
    note = "take the argument by reference (`&{Self}`), or implement `Clone` for it"
)]
pub trait CloneArg: Sized {
    /// A clone for one run.
    fn clone_arg(&self) -> Self;
}

#[diagnostic::do_not_recommend]
impl<T: Clone> CloneArg for T {
    #[inline]
    fn clone_arg(&self) -> Self {
        self.clone()
    }
}

/// Clones an owned argument for one run (checked at the argument's type).
#[inline]
pub fn clone_arg<T: CloneArg>(arg: &T) -> T {
    arg.clone_arg()
}

/// A predicate over the function's error type: `failure_if = path` or `retry_if = path`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a predicate over the function's error type `{E}`",
    label = "expected a function `fn(&{E}) -> bool`"
)]
pub trait Predicate<E> {
    /// Whether the predicate holds for `error`.
    fn test(&self, error: &E) -> bool;
}

#[diagnostic::do_not_recommend]
impl<E, F: Fn(&E) -> bool> Predicate<E> for F {
    #[inline]
    fn test(&self, error: &E) -> bool {
        self(error)
    }
}

/// The call of a fallback tier: it must produce the same `Result` as the function it backs.
#[diagnostic::on_unimplemented(
    message = "this fallback tier does not return `{R}` like the function it backs",
    label = "a tier must take the same arguments and return the same type as the guarded function"
)]
pub trait TierCall<R>: IntoFuture<Output = R> {}

#[diagnostic::do_not_recommend]
impl<R, F: IntoFuture<Output = R>> TierCall<R> for F {}

/// Checks a tier's call at the tier's name, and gives its future.
#[inline]
pub fn tier<R, F: TierCall<R>>(call: F) -> F::IntoFuture {
    call.into_future()
}

/// The retry verdict for an attempt that went through a breaker.
#[inline]
pub fn verdict_call<E>(error: &CallError<E>, retry_if: impl FnOnce(&E) -> bool) -> Verdict {
    match error {
        CallError::Rejected(open) => Verdict::for_rejection(open),
        CallError::Failed(e) => verdict(e, retry_if),
    }
}

/// The retry verdict for a plain attempt.
#[inline]
pub fn verdict<E>(error: &E, retry_if: impl FnOnce(&E) -> bool) -> Verdict {
    if retry_if(error) {
        Verdict::Retry
    } else {
        Verdict::Stop
    }
}

/// A predicate that accepts every error.
#[inline]
pub fn always<E>(_: &E) -> bool {
    true
}

/// The function's error for an attempt that went through a breaker.
#[inline]
pub fn into_error<E: From<Error>>(error: CallError<E>) -> E {
    match error {
        CallError::Rejected(open) => E::from(Error::CircuitOpen(open)),
        CallError::Failed(e) => e,
    }
}

/// The failures of a fallback chain, gathered on the failure path only.
pub struct Failures {
    operation: &'static str,
    tiers: Vec<TierFailure>,
}

impl Failures {
    /// No failure yet, for the operation `operation`.
    pub fn new(operation: &'static str) -> Self {
        Self {
            operation,
            tiers: Vec::new(),
        }
    }

    /// The guarded function's own run failed (its breaker's rejection counts as a skip).
    pub fn primary<E: TierError>(&mut self, tier: &str, error: CallError<E>) {
        match error {
            CallError::Rejected(open) => self.push(tier, TierOutcome::Skipped(open)),
            CallError::Failed(e) => self.failed(tier, e),
        }
    }

    /// A tier failed.
    pub fn failed<E: TierError>(&mut self, tier: &str, error: E) {
        self.push(tier, TierOutcome::Failed(Box::new(error) as BoxError));
    }

    fn push(&mut self, tier: &str, outcome: TierOutcome) {
        events::tier_did_not_serve(self.operation, tier, &outcome);
        self.tiers.push(TierFailure {
            tier: tier.to_owned(),
            outcome,
        });
    }

    /// A fallback tier served.
    pub fn served(&self, tier: &str, position: usize) {
        events::fallback_used(self.operation, tier, position);
    }

    /// Every tier failed: the error the function returns.
    pub fn into_error<E: From<Error>>(self) -> E {
        let error = AllTiersFailedError {
            operation: self.operation.to_owned(),
            attempted_tiers: self.tiers,
        };
        events::all_tiers_failed(&error);
        E::from(Error::AllTiersFailed(error))
    }
}
