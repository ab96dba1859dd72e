//! Recognising the crate's refusals in a tower error, whatever shape the stack of layers gave
//! it: the refusal itself, tower's `BoxError` holding it, or [`crate::Error`].

use std::any::Any;
use std::error::Error as StdError;

use crate::error::BoxError;
use crate::limit::{BulkheadFullError, RateLimitedError};

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
