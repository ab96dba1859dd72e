//! The error types of the crate.
//!
//! Each failure mode has its own type, named after the guide it follows:
//! [`CircuitBreakerOpenError`] when a breaker refuses a call, [`RetryExhaustedError`] when every
//! attempt failed, [`AllTiersFailedError`] when no fallback tier answered, and [`ConfigError`] for a
//! setting or environment variable that cannot work. [`Error`] gathers them, so that a caller's own
//! error type needs a single `From<resilience::Error>` to receive any of them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use crate::limit::{BulkheadFullError, RateLimitedError, TimeoutError};
use crate::name::Name;

/// A boxed error, the form in which [`Error`] carries a caller's own errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The umbrella error of the crate: every error the runtime itself can produce.
///
/// A function guarded by the attributes keeps its own error type `E`; `E` only needs
/// `From<resilience::Error>` so that a rejection or an exhausted retry can be returned as `E`.
///
/// ```
/// #[derive(Debug)]
/// enum ZohoError {
///     Http(u16),
///     Resilience(resilience::Error),
/// }
///
/// impl From<resilience::Error> for ZohoError {
///     fn from(e: resilience::Error) -> Self {
///         ZohoError::Resilience(e)
///     }
/// }
/// # let _ = ZohoError::Http(503);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A circuit breaker refused the call.
    #[error(transparent)]
    CircuitOpen(#[from] CircuitBreakerOpenError),
    /// Every attempt of a retried operation failed.
    #[error(transparent)]
    RetryExhausted(#[from] RetryExhaustedError),
    /// Every fallback tier failed or was skipped. (Boxed, like [`Error::Config`], to keep
    /// `Error`, and every `Result` that carries it, small.)
    #[error(transparent)]
    AllTiersFailed(Box<AllTiersFailedError>),
    /// A setting or an environment variable has a value that cannot work.
    #[error(transparent)]
    Config(Box<ConfigError>),
    /// An attempt ran out of time.
    #[error(transparent)]
    Timeout(#[from] TimeoutError),
    /// A bulkhead refused the call: every slot was taken.
    #[error(transparent)]
    BulkheadFull(#[from] BulkheadFullError),
    /// A rate limiter refused the call: its tokens were spent.
    #[error(transparent)]
    RateLimited(#[from] RateLimitedError),
}

impl From<AllTiersFailedError> for Error {
    fn from(e: AllTiersFailedError) -> Self {
        Error::AllTiersFailed(Box::new(e))
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(Box::new(e))
    }
}

impl Error {
    /// The rejection, when this error is one.
    pub fn as_circuit_open(&self) -> Option<&CircuitBreakerOpenError> {
        match self {
            Error::CircuitOpen(e) => Some(e),
            _ => None,
        }
    }
}

/// A circuit breaker refused a call: it is open, forced open, or its half-open probes are all
/// in flight. The operation was not called.
///
/// ```
/// use resilience::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("zoho_mcp").ignore_env().build().unwrap();
/// breaker.force_open();
/// let err = breaker.try_acquire().unwrap_err();
/// assert_eq!(err.circuit_name(), "zoho_mcp");
/// assert_eq!(err.retry_after(), None); // forced open: no scheduled recovery
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitBreakerOpenError {
    pub(crate) circuit_name: Name,
    pub(crate) retry_after: Option<Duration>,
}

impl CircuitBreakerOpenError {
    /// Creates a rejection for the breaker `circuit_name`.
    pub fn new(circuit_name: impl Into<Arc<str>>, retry_after: Option<Duration>) -> Self {
        Self {
            circuit_name: Name::Shared(circuit_name.into()),
            retry_after,
        }
    }

    /// The name of the breaker that refused the call.
    pub fn circuit_name(&self) -> &str {
        &self.circuit_name
    }

    /// How long until the breaker lets a probe through.
    ///
    /// `Some(Duration::ZERO)` when the breaker is half-open and its probe slots are all taken
    /// (a slot frees as soon as a probe ends); `None` when it was forced open and only an operator
    /// can close it.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for CircuitBreakerOpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retry_after {
            Some(d) if d.is_zero() => write!(
                f,
                "circuit '{}' is half-open and all its probe calls are in flight; retry shortly",
                self.circuit_name
            ),
            Some(d) => write!(
                f,
                "circuit '{}' is open; retry after {:.3}s",
                self.circuit_name,
                d.as_secs_f64()
            ),
            None => write!(
                f,
                "circuit '{}' is forced open; it stays open until reset",
                self.circuit_name
            ),
        }
    }
}

impl std::error::Error for CircuitBreakerOpenError {}

/// Every attempt of a retried operation failed.
///
/// `E` is the operation's own error type; [`Error::RetryExhausted`] holds it boxed.
#[derive(Debug, thiserror::Error)]
#[error("operation failed after {attempts} attempt(s): {last_error}")]
pub struct RetryExhaustedError<E = BoxError> {
    /// How many times the operation was called, the first call included.
    pub attempts: u32,
    /// The error of the last attempt.
    pub last_error: E,
}

impl<E> RetryExhaustedError<E> {
    /// Boxes the last error, to carry this error inside [`Error`].
    pub fn boxed(self) -> RetryExhaustedError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        RetryExhaustedError {
            attempts: self.attempts,
            last_error: Box::new(self.last_error),
        }
    }
}

/// What happened to one fallback tier.
#[derive(Debug)]
pub enum TierOutcome<E = BoxError> {
    /// The tier was called and failed with this error.
    Failed(E),
    /// The tier was not called: its circuit breaker was open.
    Skipped(CircuitBreakerOpenError),
}

/// One tier of a fallback chain that did not serve the call.
#[derive(Debug)]
pub struct TierFailure<E = BoxError> {
    /// The tier's name.
    pub tier: String,
    /// Why it did not serve.
    pub outcome: TierOutcome<E>,
}

/// Every tier of a fallback chain failed or was skipped.
///
/// `attempted_tiers` lists every tier in the order tried, each with its error or the rejection
/// that made it skipped.
#[derive(Debug)]
pub struct AllTiersFailedError<E = BoxError> {
    /// The operation's name, as given to the fallback handler.
    pub operation: String,
    /// Every tier, in order, with what happened to it.
    pub attempted_tiers: Vec<TierFailure<E>>,
}

impl<E> AllTiersFailedError<E> {
    /// Boxes each tier's error, to carry this error inside [`Error`].
    pub fn boxed(self) -> AllTiersFailedError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        AllTiersFailedError {
            operation: self.operation,
            attempted_tiers: self
                .attempted_tiers
                .into_iter()
                .map(|t| TierFailure {
                    tier: t.tier,
                    outcome: match t.outcome {
                        TierOutcome::Failed(e) => TierOutcome::Failed(Box::new(e) as BoxError),
                        TierOutcome::Skipped(s) => TierOutcome::Skipped(s),
                    },
                })
                .collect(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for AllTiersFailedError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "all tiers failed for '{}'", self.operation)?;
        for (i, t) in self.attempted_tiers.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            match &t.outcome {
                TierOutcome::Failed(e) => write!(f, "{sep}{} failed ({e})", t.tier)?,
                TierOutcome::Skipped(_) => write!(f, "{sep}{} skipped (circuit open)", t.tier)?,
            }
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for AllTiersFailedError<E> {}

/// A setting or an environment variable whose value cannot work.
///
/// The message names the setting (or the variable) and the value, and says what would work:
///
/// ```
/// use resilience::CircuitBreaker;
///
/// let err = CircuitBreaker::builder("tier1_mcp")
///     .ignore_env()
///     .failure_threshold(0)
///     .build()
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid failure_threshold = 0 for circuit breaker 'tier1_mcp': must be at least 1"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value written in code (builder or attribute) that cannot work.
    #[error("invalid {setting} = {value}{}: {reason}", context_suffix(.context))]
    InvalidSetting {
        /// The setting's name, as the builder method and the attribute key spell it.
        setting: &'static str,
        /// The value given, as written.
        value: String,
        /// Why it cannot work, and what would.
        reason: String,
        /// What the setting belongs to (`circuit breaker 'tier1_mcp'`), or empty.
        context: String,
    },
    /// An environment variable that does not parse or whose value cannot work.
    #[error("invalid environment variable {variable}={value:?}: {reason}")]
    InvalidEnv {
        /// The variable's name.
        variable: String,
        /// Its value, as found.
        value: String,
        /// Why it cannot work, and what would.
        reason: String,
    },
}

fn context_suffix(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(" for {context}")
    }
}

impl ConfigError {
    /// The name of the setting or environment variable at fault.
    pub fn input(&self) -> &str {
        match self {
            ConfigError::InvalidSetting { setting, .. } => setting,
            ConfigError::InvalidEnv { variable, .. } => variable,
        }
    }

    /// The offending value, as written.
    pub fn value(&self) -> &str {
        match self {
            ConfigError::InvalidSetting { value, .. } | ConfigError::InvalidEnv { value, .. } => {
                value
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("tier down")]
    struct Down;

    #[test]
    fn all_tiers_failed_lists_every_tier_in_order() {
        let err = AllTiersFailedError {
            operation: "get_account".into(),
            attempted_tiers: vec![
                TierFailure {
                    tier: "tier1_mcp".into(),
                    outcome: TierOutcome::Skipped(CircuitBreakerOpenError::new(
                        "tier1_mcp",
                        Some(Duration::from_secs(30)),
                    )),
                },
                TierFailure {
                    tier: "tier2_sdk".into(),
                    outcome: TierOutcome::Failed(Down),
                },
            ],
        };
        assert_eq!(
            err.to_string(),
            "all tiers failed for 'get_account': tier1_mcp skipped (circuit open); tier2_sdk failed (tier down)"
        );
        let boxed: Error = err.boxed().into();
        assert!(matches!(boxed, Error::AllTiersFailed(ref e) if e.attempted_tiers.len() == 2));
    }

    #[test]
    fn retry_exhausted_keeps_attempts_and_last_error() {
        let err = RetryExhaustedError {
            attempts: 3,
            last_error: Down,
        };
        assert_eq!(
            err.to_string(),
            "operation failed after 3 attempt(s): tier down"
        );
        let umbrella = Error::from(err.boxed());
        assert!(umbrella.as_circuit_open().is_none());
        assert_eq!(
            umbrella.to_string(),
            "operation failed after 3 attempt(s): tier down"
        );
    }

    #[test]
    fn open_error_messages_say_when_to_retry() {
        let open = CircuitBreakerOpenError::new("t", Some(Duration::from_millis(1500)));
        assert_eq!(open.to_string(), "circuit 't' is open; retry after 1.500s");
        let busy = CircuitBreakerOpenError::new("t", Some(Duration::ZERO));
        assert!(busy.to_string().contains("half-open"));
        let forced = CircuitBreakerOpenError::new("t", None);
        assert!(forced.to_string().contains("forced open"));
        let umbrella = Error::from(open.clone());
        assert_eq!(umbrella.as_circuit_open(), Some(&open));
    }
}
