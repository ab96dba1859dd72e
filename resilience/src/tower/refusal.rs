//! Recognising the crate's refusals in a tower error, whatever shape the stack of layers gave
//! it: the refusal itself, tower's `BoxError` holding it, [`crate::Error`], or a breaker's
//! [`Error`] around one of those.

use std::any::Any;
use std::error::Error as StdError;

use super::Error;
use crate::error::{BoxError, CircuitBreakerOpenError};
use crate::limit::{BulkheadFullError, RateLimitedError, TimeoutError};
use crate::retry::Verdict;

/// The error inside `error` when `error` is a boxed one (tower's `BoxError`, or
/// `Box<dyn Error>` with or without `Send`).
fn unbox(error: &dyn Any) -> Option<&(dyn StdError + 'static)> {
    if let Some(e) = error.downcast_ref::<BoxError>() {
        Some(&**e)
    } else if let Some(e) = error.downcast_ref::<Box<dyn StdError + Send>>() {
        Some(&**e)
    } else if let Some(e) = error.downcast_ref::<Box<dyn StdError>>() {
        Some(&**e)
    } else {
        None
    }
}

/// Whether `error` is a refusal by a bulkhead or a rate limiter: the call never reached the
/// dependency, so it says nothing about its health. Looks at `error` itself (or the error a box
/// holds), not at its causes.
pub(crate) fn is_limit_refusal<E: 'static>(error: &E) -> bool {
    let any: &dyn Any = error;
    match unbox(any) {
        Some(inner) => {
            inner.is::<BulkheadFullError>()
                || inner.is::<RateLimitedError>()
                || inner
                    .downcast_ref::<crate::Error>()
                    .is_some_and(is_limit_variant)
        }
        None => {
            any.is::<BulkheadFullError>()
                || any.is::<RateLimitedError>()
                || any
                    .downcast_ref::<crate::Error>()
                    .is_some_and(is_limit_variant)
        }
    }
}

fn is_limit_variant(error: &crate::Error) -> bool {
    matches!(
        error,
        crate::Error::BulkheadFull(_) | crate::Error::RateLimited(_)
    )
}

/// How a [`RetryLayer`](super::RetryLayer) follows up `error` by default: the crate's refusals
/// get their own verdicts, any other error backs off ([`Verdict::Retry`]).
///
/// | error | verdict |
/// |---|---|
/// | a rate limiter's [`RateLimitedError`] | wait its `retry_after`; stop when it has none |
/// | a breaker's [`CircuitBreakerOpenError`] | [`Verdict::for_rejection`]: wait its `retry_after`, stop when forced open |
/// | a [`BulkheadFullError`], a [`TimeoutError`] | back off |
/// | a [`crate::Error`] | [`Verdict::for_error`] |
/// | any other | back off |
///
/// The refusal is found where the layers of this module put it: as the error itself; inside
/// tower's `BoxError` (or `Box<dyn Error>`), which the limit layers and tower's own layers
/// return; or inside a [`CircuitBreakerService`](super::CircuitBreakerService)'s [`Error`]
/// whose inner error is a `BoxError`, a [`crate::Error`], a `std::io::Error`, a `String` or a
/// `&'static str`. For a breaker around a service with an error type of its own, give the
/// [`RetryLayer`](super::RetryLayer) a classifier that matches [`Error::Rejected`]:
///
/// ```
/// use resilience::{RetryPolicy, Verdict};
/// use resilience::tower::{Error, RetryLayer};
///
/// #[derive(Debug)]
/// struct CrmError;
/// # impl std::fmt::Display for CrmError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("CRM error") }
/// # }
///
/// let layer = RetryLayer::new(RetryPolicy::default()).classify(
///     |r: &Result<String, Error<CrmError>>| match r {
///         Ok(_) => Verdict::Stop,
///         Err(Error::Rejected(open)) => Verdict::for_rejection(open),
///         Err(Error::Inner(_)) => Verdict::Retry,
///     },
/// );
/// ```
///
/// ```
/// use std::time::Duration;
/// use resilience::{BoxError, CircuitBreakerOpenError, Verdict};
/// use resilience::tower::{Error, verdict_for};
///
/// let open = CircuitBreakerOpenError::new("tier1_mcp", Some(Duration::from_secs(30)));
/// let rejected: Error<BoxError> = Error::Rejected(open);
/// assert_eq!(verdict_for(&rejected), Verdict::RetryAfter(Duration::from_secs(30)));
///
/// let failed: BoxError = "connection reset".into();
/// assert_eq!(verdict_for(&failed), Verdict::Retry);
/// ```
pub fn verdict_for<E: 'static>(error: &E) -> Verdict {
    let any: &dyn Any = error;
    if let Some(inner) = unbox(any) {
        return verdict_for_dyn(inner);
    }
    if let Some(verdict) = typed_verdict(any) {
        return verdict;
    }
    breaker_error::<BoxError>(any, |e| verdict_for_dyn(&**e))
        .or_else(|| breaker_error::<crate::Error>(any, Verdict::for_error))
        .or_else(|| breaker_error::<std::io::Error>(any, |_| Verdict::Retry))
        .or_else(|| breaker_error::<String>(any, |_| Verdict::Retry))
        .or_else(|| breaker_error::<&'static str>(any, |_| Verdict::Retry))
        .unwrap_or(Verdict::Retry)
}

/// The verdict for a boxed error: a refusal of the crate's, or a breaker's error around a boxed
/// one; any other backs off.
fn verdict_for_dyn(error: &(dyn StdError + 'static)) -> Verdict {
    if let Some(refused) = error.downcast_ref::<RateLimitedError>() {
        return rate_limited(refused);
    }
    if let Some(open) = error.downcast_ref::<CircuitBreakerOpenError>() {
        return Verdict::for_rejection(open);
    }
    if let Some(e) = error.downcast_ref::<crate::Error>() {
        return Verdict::for_error(e);
    }
    match error.downcast_ref::<Error<BoxError>>() {
        Some(Error::Rejected(open)) => Verdict::for_rejection(open),
        Some(Error::Inner(inner)) => verdict_for_dyn(&**inner),
        None => Verdict::Retry,
    }
}

/// The verdict for one of the crate's error types, unboxed.
fn typed_verdict(any: &dyn Any) -> Option<Verdict> {
    if let Some(refused) = any.downcast_ref::<RateLimitedError>() {
        Some(rate_limited(refused))
    } else if let Some(open) = any.downcast_ref::<CircuitBreakerOpenError>() {
        Some(Verdict::for_rejection(open))
    } else if any.is::<BulkheadFullError>() || any.is::<TimeoutError>() {
        Some(Verdict::Retry)
    } else {
        any.downcast_ref::<crate::Error>().map(Verdict::for_error)
    }
}

fn rate_limited(refused: &RateLimitedError) -> Verdict {
    match refused.retry_after() {
        Some(wait) => Verdict::RetryAfter(wait),
        // The cost is above the whole burst: it never passes.
        None => Verdict::Stop,
    }
}

/// The verdict for a breaker's [`Error<X>`]: its rejection's, or `inner`'s for the inner error.
fn breaker_error<X: 'static>(any: &dyn Any, inner: impl Fn(&X) -> Verdict) -> Option<Verdict> {
    any.downcast_ref::<Error<X>>().map(|e| match e {
        Error::Rejected(open) => Verdict::for_rejection(open),
        Error::Inner(x) => inner(x),
    })
}
