//! Support for the code that the attributes (`#[circuit_breaker]`, `#[retry]`, `#[fallback]`,
//! `#[timeout]`, `#[bulkhead]`, `#[rate_limit]`) generate.
//!
//! Not a public API: it may change in any release. Generated code names these items as
//! `::resilience::__private::…`.
//!
//! The type rules of the attributes that only the type checker can see are traits here, each
//! with a `#[diagnostic::on_unimplemented]` message, and checked at the user's own tokens: the
//! return type, an argument's type, a predicate's path, a tier's name.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use tokio::time::sleep;

pub use resilience_macros::__pipeline;

pub use crate::breaker::CallError;
use crate::breaker::{Admission, CircuitBreaker};
use crate::error::{
    AllTiersFailedError, BoxError, CircuitBreakerOpenError, Error, TierFailure, TierOutcome,
};
use crate::events;
use crate::limit::TimeoutError;
use crate::retry::{RetryPolicy, RetryPolicyBuilder, Verdict};
pub use crate::sites::{BreakerSite, BulkheadSite, LimitSiteRef, RateLimiterSite, SiteRef};
pub use inventory;

/// `submit!(SITE)`: adds the `static` breaker site `SITE` to the list the linker gathers;
/// `submit!(bulkhead SITE)` and `submit!(rate_limit SITE)` add a limit's site.
#[doc(hidden)]
#[macro_export]
macro_rules! __resilience_submit_site {
    ($site:ident) => {
        $crate::__private::inventory::submit!($crate::__private::SiteRef(&$site));
    };
    (bulkhead $site:ident) => {
        $crate::__private::inventory::submit!($crate::__private::LimitSiteRef::Bulkhead(&$site));
    };
    (rate_limit $site:ident) => {
        $crate::__private::inventory::submit!($crate::__private::LimitSiteRef::RateLimiter(&$site));
    };
}

pub use crate::__resilience_submit_site as submit;

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
    message = "`{Self}` is not a `Result`: a function under #[circuit_breaker], #[retry], #[fallback], #[timeout], #[bulkhead] or #[rate_limit] must return `Result<T, E>`",
    label = "not a `Result<T, E>`"
)]
pub trait ResultReturn {
    /// `T`.
    type Ok;
    /// `E`.
    type Err;
    /// The value as a `Result`.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
    /// The `Result` as a value of this type.
    fn from_result(result: Result<Self::Ok, Self::Err>) -> Self;
}

impl<T, E> ResultReturn for Result<T, E> {
    type Ok = T;
    type Err = E;
    #[inline]
    fn into_result(self) -> Self {
        self
    }
    #[inline]
    fn from_result(result: Self) -> Self {
        result
    }
}

// The conversions between the return type `R` and the `Result` the pipeline works with. `R`
// is named where the function's return type is written, and their signatures hold no
// projection of `R`: for an `R` that is not a `Result`, each use fails at that one place with
// the same message, which the compiler reports once, and no other error follows.

/// The function's value `value` as a `Result`.
#[inline]
pub fn to_result<R: ResultReturn<Ok = T, Err = E>, T, E>(value: R) -> Result<T, E> {
    value.into_result()
}

/// The pipeline's `result` as the function's return type `R`.
#[inline]
pub fn from_result<R: ResultReturn<Ok = T, Err = E>, T, E>(result: Result<T, E>) -> R {
    R::from_result(result)
}

// Each type rule on the error type is checked once, where a witness is made, at the user's
// return type. The witness carries the conversions as function pointers, so that the code
// using them has no bound of its own and a broken rule is reported once, not at every use.

/// An error type that can carry the runtime's errors.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` does not implement `From<resilience::Error>`",
    label = "a breaker's rejection, a limit's refusal or timeout, or all tiers failing, is returned as this error type",
    note = "add `impl From<resilience::Error> for {Self}`, e.g. with a variant `Resilience(#[from] resilience::Error)`"
)]
pub trait FromResilienceError: From<Error> {}

#[diagnostic::do_not_recommend]
impl<E: From<Error>> FromResilienceError for E {}

/// Proof that `E: From<resilience::Error>`, with the conversion.
pub struct Convert<E>(fn(Error) -> E);

/// The witness of `E: From<resilience::Error>`.
#[inline]
pub fn convert<E: FromResilienceError>() -> Convert<E> {
    Convert(E::from)
}

impl<E> Convert<E> {
    /// The function's error for an attempt that went through a breaker or a limit.
    #[inline]
    pub fn call_error(&self, error: impl Into<Failure<E>>) -> E {
        match error.into() {
            Failure::Failed(e) => e,
            Failure::Rejected(open) => (self.0)(Error::CircuitOpen(open)),
            Failure::Limited(limited) => (self.0)(limited),
        }
    }
}

/// How an attempt through a breaker or a limit failed. (An attempt through a breaker alone
/// fails with a [`CallError`], smaller, which the failure path turns into this.)
pub enum Failure<E> {
    /// The body ran and returned this error.
    Failed(E),
    /// The breaker refused; the body did not run.
    Rejected(CircuitBreakerOpenError),
    /// A limit stopped the attempt: [`Error::Timeout`] (the body ran out of time and was
    /// dropped), [`Error::BulkheadFull`] or [`Error::RateLimited`] (refused; the body did not
    /// run).
    Limited(Error),
}

impl<E> From<CallError<E>> for Failure<E> {
    #[inline]
    fn from(error: CallError<E>) -> Self {
        match error {
            CallError::Failed(e) => Failure::Failed(e),
            CallError::Rejected(open) => Failure::Rejected(open),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Failed(e) => e.fmt(f),
            Failure::Rejected(open) => open.fmt(f),
            Failure::Limited(limited) => limited.fmt(f),
        }
    }
}

/// The body's future, given `after` to run: its output, or [`Error::Timeout`] once the time
/// is up (the future is then dropped where it stands).
#[inline]
pub fn time_limited<T, E, F: Future<Output = Result<T, E>>>(
    after: Duration,
    body: F,
) -> TimeLimited<F> {
    TimeLimited {
        inner: tokio::time::timeout(after, body),
        after,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`time_limited`].
    pub struct TimeLimited<F> {
        #[pin]
        inner: tokio::time::Timeout<F>,
        after: Duration,
    }
}

impl<T, E, F: Future<Output = Result<T, E>>> Future for TimeLimited<F> {
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        match this.inner.poll(cx) {
            std::task::Poll::Ready(Ok(result)) => {
                std::task::Poll::Ready(result.map_err(Failure::Failed))
            }
            std::task::Poll::Ready(Err(_)) => std::task::Poll::Ready(Err(timed_out(*this.after))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

#[cold]
fn timed_out<E>(after: Duration) -> Failure<E> {
    Failure::Limited(Error::Timeout(TimeoutError { after }))
}

/// A bulkhead's refusal, as an attempt's failure.
#[cold]
pub fn bulkhead_full<E>(full: crate::limit::BulkheadFullError) -> Failure<E> {
    Failure::Limited(Error::BulkheadFull(full))
}

/// A rate limiter's refusal, as an attempt's failure.
#[cold]
pub fn rate_limited<E>(limited: crate::limit::RateLimitedError) -> Failure<E> {
    Failure::Limited(Error::RateLimited(limited))
}

/// Gives the breaker the body's outcome (`Ok`, a success; `Err`, a failure when `is_failure`
/// says so), noting a failure for an enclosing fallback chain.
#[inline]
pub fn record<B: Deref<Target = CircuitBreaker>, T, E>(
    permit: Admission<B>,
    result: &Result<T, E>,
    is_failure: impl FnOnce(&E) -> bool,
) {
    permit.record_with(result, is_failure);
    if result.is_err() {
        note_failed();
    }
}

/// Gives the breaker an attempt's outcome: a success; the body's error, a failure when
/// `is_failure` says so; a timeout, a failure of the dependency; a refusal by a limit, nothing,
/// since the dependency was not called: the permit is released unrecorded. A failure is noted
/// for an enclosing fallback chain.
#[inline]
pub fn record_attempt<B: Deref<Target = CircuitBreaker>, T, E>(
    permit: Admission<B>,
    result: &Result<T, Failure<E>>,
    is_failure: impl FnOnce(&E) -> bool,
) {
    match result {
        Ok(_) => permit.record_success(),
        Err(Failure::Failed(e)) if is_failure(e) => permit.record_failure(),
        Err(Failure::Failed(_)) => permit.record_success(),
        Err(Failure::Limited(Error::Timeout(_))) => permit.record_failure(),
        Err(_) => release(permit),
    }
    if result.is_err() {
        note_failed();
    }
}

/// Releases a breaker's permit without recording an outcome: the call was refused by a limit
/// before reaching the dependency, which says nothing of its health. A half-open slot is freed
/// (what dropping an unrecorded permit does).
#[inline]
pub fn release<B: Deref<Target = CircuitBreaker>>(permit: Admission<B>) {
    drop(permit);
}

/// An error type that retries can log.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` does not implement `Display`",
    label = "#[retry] logs each failed attempt's error",
    note = "implement `std::fmt::Display` for `{Self}` (for example with `thiserror`)"
)]
pub trait LoggableError: fmt::Display {}

#[diagnostic::do_not_recommend]
impl<E: fmt::Display> LoggableError for E {}

/// Proof that `E: Display`, with the formatting of `E` and of `CallError<E>`.
pub struct Show<E> {
    plain: fn(&E, &mut fmt::Formatter<'_>) -> fmt::Result,
    call: fn(&Failure<E>, &mut fmt::Formatter<'_>) -> fmt::Result,
}

/// The witness of `E: Display`.
#[inline]
pub fn show<E: LoggableError>() -> Show<E> {
    Show {
        plain: <E as fmt::Display>::fmt,
        call: <Failure<E> as fmt::Display>::fmt,
    }
}

impl<E> Show<E> {
    /// `error`, displayable.
    #[inline]
    pub fn plain(&self, error: E) -> Shown<E> {
        Shown(error, self.plain)
    }

    /// `error`, displayable.
    #[inline]
    pub fn call(&self, error: impl Into<Failure<E>>) -> Shown<Failure<E>> {
        Shown(error.into(), self.call)
    }
}

/// A value and how to display it.
pub struct Shown<T>(T, fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result);

impl<T> Shown<T> {
    /// The value.
    #[inline]
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Display for Shown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.1)(&self.0, f)
    }
}

/// The verdict on the body's error: `retry_if`'s answer, or with `retry_after = path`,
/// [`hinted`]'s.
pub trait Judged {
    /// As a verdict.
    fn verdict(self) -> Verdict;
}

impl Judged for bool {
    #[inline]
    fn verdict(self) -> Verdict {
        if self { Verdict::Retry } else { Verdict::Stop }
    }
}

impl Judged for Verdict {
    #[inline]
    fn verdict(self) -> Verdict {
        self
    }
}

/// The verdict on the body's error with a hint: stop when `retry_if` says so, else wait the
/// hint's time when it gives one (at least the backoff delay, and only when it fits, as for an
/// open circuit), else the backoff delay.
#[inline]
pub fn hinted(retry: bool, hint: Option<Duration>) -> Verdict {
    if retry {
        Verdict::after(hint)
    } else {
        Verdict::Stop
    }
}

/// The retry verdict for an attempt that went through a breaker or a limit: an open circuit's
/// or a rate limiter's refusal is retried after its `retry_after` (stopped without one), a
/// bulkhead's refusal and a timeout after the backoff delay, the body's error as `judge` says.
#[inline]
pub fn verdict_call<E, V: Judged>(
    error: &Shown<Failure<E>>,
    judge: impl FnOnce(&E) -> V,
) -> Verdict {
    match &error.0 {
        Failure::Failed(e) => judge(e).verdict(),
        Failure::Rejected(open) => Verdict::for_rejection(open),
        Failure::Limited(limited) => Verdict::for_error(limited),
    }
}

/// The retry verdict for an attempt that went through a breaker or a limit, when fallback
/// tiers follow: a refusal (an open circuit, a full bulkhead, a spent rate limit) ends the
/// retries at once, so that the next tier serves instead of the call waiting for this one.
#[inline]
pub fn verdict_call_or_fall_back<E, V: Judged>(
    error: &Shown<Failure<E>>,
    judge: impl FnOnce(&E) -> V,
) -> Verdict {
    match &error.0 {
        Failure::Failed(e) => judge(e).verdict(),
        Failure::Limited(Error::Timeout(_)) => Verdict::Retry,
        Failure::Rejected(_) | Failure::Limited(_) => Verdict::Stop,
    }
}

/// The retry verdict for a plain attempt.
#[inline]
pub fn verdict<E, V: Judged>(error: &Shown<E>, judge: impl FnOnce(&E) -> V) -> Verdict {
    judge(&error.0).verdict()
}

/// A hint over the function's error type: `retry_after = path`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a retry-after hint over the function's error type `{E}`",
    label = "expected a function `fn(&{E}) -> Option<Duration>`"
)]
pub trait RetryAfterHint<E> {
    /// How long to wait before retrying after `error`, if the error says.
    fn hint(&self, error: &E) -> Option<Duration>;
}

#[diagnostic::do_not_recommend]
impl<E, F: Fn(&E) -> Option<Duration>> RetryAfterHint<E> for F {
    #[inline]
    fn hint(&self, error: &E) -> Option<Duration> {
        self(error)
    }
}

/// An error type that `AllTiersFailedError` can hold.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` must be a `std::error::Error + Send + Sync + 'static` for #[fallback]",
    label = "when every tier fails, each tier's error is kept in `AllTiersFailedError`",
    note = "derive it with `thiserror`, or implement `std::error::Error` for `{Self}`"
)]
pub trait TierError: std::error::Error + Send + Sync + 'static {}

#[diagnostic::do_not_recommend]
impl<E: std::error::Error + Send + Sync + 'static> TierError for E {}

/// Proof that `E` can be kept in `AllTiersFailedError`, with the boxing.
pub struct Keep<E>(fn(E) -> BoxError);

/// The witness of `E: std::error::Error + Send + Sync + 'static`.
#[inline]
pub fn keep<E: TierError>() -> Keep<E> {
    Keep(|e| Box::new(e))
}

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

/// The call of a fallback tier: a future.
#[diagnostic::on_unimplemented(
    message = "this fallback tier is not an `async fn`",
    label = "a tier is an `async fn` with the same arguments and return type as the guarded function"
)]
pub trait TierFuture: IntoFuture {}

#[diagnostic::do_not_recommend]
impl<F: IntoFuture> TierFuture for F {}

/// A tier's output: the same type as the guarded function's.
#[diagnostic::on_unimplemented(
    message = "this fallback tier returns `{Self}`, not `{R}` like the function it backs",
    label = "a tier returns the same type as the guarded function"
)]
pub trait SameOutput<R> {
    /// The output, as the function's type.
    fn into_output(self) -> R;
}

impl<R> SameOutput<R> for R {
    #[inline]
    fn into_output(self) -> R {
        self
    }
}

/// Checks at the tier's name that it returns `R`, and gives its output as a `Result`. Its
/// result is typed by `R` even when the check fails, so that a wrong tier gives one error.
#[inline]
pub fn tier_output<R: ResultReturn<Ok = T, Err = E>, T, E, X: SameOutput<R>>(
    output: X,
) -> Result<T, E> {
    output.into_output().into_result()
}

// A fallback tier is a function of its own, possibly guarded by a breaker of its own; when it
// fails, the chain sees only its error `E`. To report a tier whose breaker refused it as
// skipped rather than failed, the chain runs each tier inside a task-local slot, and the
// generated code of a guarded function notes its last outcome there: a rejection with the name
// of the function refused, or a failure (which clears it). The chain counts a rejection only
// when it is the tier function's own: a tier without a breaker that calls a guarded function
// whose circuit is open, then fails, has failed. Outside a chain the slot is absent and noting
// does nothing; a success notes nothing, so the call path pays nothing.
tokio::task_local! {
    static LAST_REJECTION: Rejection;
}

/// A rejection noted for a chain: the function refused, and the refusal.
type Noted = (&'static str, CircuitBreakerOpenError);

/// Where a fallback tier's rejection is noted.
#[derive(Clone, Default)]
pub struct Rejection(Arc<std::sync::Mutex<Option<Noted>>>);

impl Rejection {
    /// An empty slot, for one tier.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks at the tier's name that its call is a future, and runs it with this slot in
    /// scope.
    pub fn watch<F: TierFuture>(
        &self,
        call: F,
    ) -> tokio::task::futures::TaskLocalFuture<Rejection, F::IntoFuture> {
        LAST_REJECTION.scope(self.clone(), call.into_future())
    }

    /// The rejection of the tier `tier` (a path, as written in `#[fallback]`) itself, if it was
    /// the last outcome noted; not one of a function it called.
    fn take_own(&self, tier: &str) -> Option<CircuitBreakerOpenError> {
        let noted = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()?;
        let function = tier.rsplit("::").next().unwrap_or(tier);
        (noted.0 == function).then_some(noted.1)
    }

    /// Notes the outcome when in a chain; the rejection is cloned only then.
    fn note(outcome: Option<(&'static str, &CircuitBreakerOpenError)>) {
        let _ = LAST_REJECTION.try_with(|slot| {
            *slot
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                outcome.map(|(function, open)| (function, open.clone()));
        });
    }
}

/// The breaker of the guarded function `function` refused its call (noted for an enclosing
/// fallback chain).
#[inline]
pub fn note_rejected(function: &'static str, open: &CircuitBreakerOpenError) {
    Rejection::note(Some((function, open)));
}

/// A guarded function failed otherwise (noted for an enclosing fallback chain).
#[inline]
pub fn note_failed() {
    Rejection::note(None);
}

/// The failures of a fallback chain, gathered on the failure path only.
pub struct Failures<E> {
    operation: &'static str,
    tiers: Vec<TierFailure>,
    keep: Keep<E>,
}

impl<E> Failures<E> {
    /// No failure yet, for the operation `operation`.
    pub fn new(operation: &'static str, keep: Keep<E>) -> Self {
        Self {
            operation,
            tiers: Vec::new(),
            keep,
        }
    }

    /// The guarded function's own run failed through its breaker or a limit (a breaker's
    /// rejection counts as a skip).
    pub fn primary(&mut self, tier: &str, error: impl Into<Failure<E>>) {
        match error.into() {
            Failure::Rejected(open) => self.push(tier, TierOutcome::Skipped(open)),
            Failure::Failed(e) => self.failed(tier, e),
            Failure::Limited(limited) => self.push(tier, TierOutcome::Failed(Box::new(limited))),
        }
    }

    /// The guarded function's own run failed, without a breaker of its own.
    pub fn failed(&mut self, tier: &str, error: E) {
        let boxed = (self.keep.0)(error);
        self.push(tier, TierOutcome::Failed(boxed));
    }

    /// A fallback tier failed: skipped, if its own breaker refused it.
    pub fn tier_failed(&mut self, tier: &str, error: E, seen: &Rejection) {
        match seen.take_own(tier) {
            Some(open) => self.push(tier, TierOutcome::Skipped(open)),
            None => self.failed(tier, error),
        }
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

    /// Every tier failed: the error the function returns (noted as a failure, not a
    /// rejection, for a chain this function is itself a tier of).
    pub fn into_error(self, convert: &Convert<E>) -> E {
        note_failed();
        let error = AllTiersFailedError {
            operation: self.operation.to_owned(),
            attempted_tiers: self.tiers,
        };
        events::all_tiers_failed(&error);
        (convert.0)(Error::AllTiersFailed(Box::new(error)))
    }
}
