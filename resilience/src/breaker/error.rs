//! [`CallError`]: what [`CircuitBreaker::call`] returns when it does not succeed.

use super::*;

/// The error of [`CircuitBreaker::call`]: the breaker refused, or the operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The breaker refused the call; the operation was not run.
    Rejected(CircuitBreakerOpenError),
    /// The operation ran and returned this error.
    Failed(E),
}

impl<E> CallError<E> {
    /// The operation's error, if it ran.
    pub fn into_failed(self) -> Option<E> {
        match self {
            CallError::Failed(e) => Some(e),
            CallError::Rejected(_) => None,
        }
    }

    /// The rejection, if the breaker refused.
    pub fn as_rejected(&self) -> Option<&CircuitBreakerOpenError> {
        match self {
            CallError::Rejected(e) => Some(e),
            CallError::Failed(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(e) => e.fmt(f),
            CallError::Failed(e) => e.fmt(f),
        }
    }
}

/// Transparent, like [`crate::Error`]: it shows the error it carries and returns that error's
/// `source()`, so that a report walking the chain prints each message once.
impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Rejected(e) => e.source(),
            CallError::Failed(e) => e.source(),
        }
    }
}
