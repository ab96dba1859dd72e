//! Retry with exponential backoff and jitter: [`RetryPolicy`].
//!
//! `max_attempts` counts every call, the first included: 3 means one call and up to two
//! retries. The wait after failed attempt `k` (0-based) is
//!
//! ```text
//! delay(k) = min(base_delay * exponential_base^k, max_delay)
//! ```
//!
//! and, with jitter on, that times a factor drawn uniformly from [0.5, 1.5), never above
//! `max_delay`. The guide's example, base 1 s and exponential base 2 without jitter:
//!
//! | attempt | wait after it |
//! |---------|---------------|
//! | 0       | 1 s           |
//! | 1       | 2 s           |
//! | 2       | 4 s           |
//!
//! A policy keeps no state between calls: many tasks share one policy without interfering.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::time::Instant;

use crate::breaker::{CallError, CircuitBreaker};
use crate::config::{self, Env, RetryOptions, RetrySettings};
use crate::error::{CircuitBreakerOpenError, ConfigError, Error, RetryExhaustedError};
use crate::events;

mod builder;
mod run;

pub use builder::RetryPolicyBuilder;
#[cfg(feature = "serde")]
pub(crate) use builder::check_options;
use run::Jitter;
pub use run::RetryRun;
pub(crate) use run::RunState;

/// How a failed attempt is followed up: decided per error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Retry after the policy's backoff delay.
    Retry,
    /// Retry after waiting at least this long (a circuit breaker's or a rate limiter's
    /// `retry_after`, a server's `Retry-After`), if that fits within `max_delay` and the budget;
    /// stop otherwise: the next attempt never comes before the time it was told.
    RetryAfter(Duration),
    /// Do not retry: return the error now.
    Stop,
}

impl Verdict {
    /// The verdict for a circuit breaker's rejection: wait its `retry_after` (at least the
    /// backoff delay), or stop when it was forced open.
    pub fn for_rejection(open: &CircuitBreakerOpenError) -> Verdict {
        match open.retry_after() {
            Some(wait) => Verdict::RetryAfter(wait),
            None => Verdict::Stop,
        }
    }

    /// The verdict for a retry-after hint: wait `Some(d)` (at least the backoff delay, and only
    /// if it fits), or back off as usual on `None`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::Verdict;
    ///
    /// assert_eq!(Verdict::after(Some(Duration::from_secs(2))), Verdict::RetryAfter(Duration::from_secs(2)));
    /// assert_eq!(Verdict::after(None), Verdict::Retry);
    /// ```
    pub fn after(hint: Option<Duration>) -> Verdict {
        match hint {
            Some(wait) => Verdict::RetryAfter(wait),
            None => Verdict::Retry,
        }
    }

    /// The verdict for one of the crate's own errors:
    ///
    /// | error | verdict |
    /// |---|---|
    /// | [`Error::RateLimited`] | wait its `retry_after`; stop when it has none (the call costs more than the whole burst, and never passes) |
    /// | [`Error::CircuitOpen`] | [`for_rejection`](Self::for_rejection): wait its `retry_after`, stop when forced open |
    /// | [`Error::BulkheadFull`], [`Error::Timeout`] | retry after the backoff |
    /// | any other ([`Error::RetryExhausted`], [`Error::AllTiersFailed`], [`Error::Config`]) | stop: retrying again cannot help |
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::limit::RateLimiter;
    /// use resilience::{Error, Verdict};
    ///
    /// let credits = RateLimiter::builder("zoho_credits", 1, Duration::from_secs(2))
    ///     .ignore_env()
    ///     .build()?;
    /// credits.try_acquire()?;
    /// let refused = credits.try_acquire().unwrap_err();
    /// let wait = refused.retry_after().unwrap(); // up to 2 s: when the token is back
    /// assert_eq!(Verdict::for_error(&Error::from(refused)), Verdict::RetryAfter(wait));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_error(error: &Error) -> Verdict {
        match error {
            Error::RateLimited(refused) => match refused.retry_after() {
                Some(wait) => Verdict::RetryAfter(wait),
                None => Verdict::Stop,
            },
            Error::CircuitOpen(open) => Verdict::for_rejection(open),
            Error::BulkheadFull(_) | Error::Timeout(_) => Verdict::Retry,
            Error::RetryExhausted(_) | Error::AllTiersFailed(_) | Error::Config(_) => Verdict::Stop,
        }
    }
}

/// A retry policy: how many attempts, and how long to wait between them.
///
/// ```
/// use std::time::Duration;
/// use resilience::RetryPolicy;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let retry = RetryPolicy::builder()
///     .max_attempts(3)
///     .base_delay(Duration::from_secs(1))
///     .max_delay(Duration::from_secs(60))
///     .exponential_base(2.0)
///     .jitter(true)
///     .build()?;
///
/// let mut calls = 0;
/// let account = retry
///     .execute(|| {
///         calls += 1;
///         let attempt = calls;
///         async move { if attempt < 3 { Err("timeout") } else { Ok("ACME Corp") } }
///     })
///     .await?;
/// assert_eq!((account, calls), ("ACME Corp", 3));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Calls in all, the first included (at least 1). Default 3.
    pub max_attempts: u32,
    /// The wait after the first failed attempt. Default 1 s.
    pub base_delay: Duration,
    /// No wait is longer than this. Default 60 s.
    pub max_delay: Duration,
    /// Each wait is this many times the one before (at least 1.0). Default 2.0.
    pub exponential_base: f64,
    /// Whether each wait is multiplied by a random factor in [0.5, 1.5). Default true.
    pub jitter: bool,
    /// Give up once the next wait would end more than this long after the first call. Default:
    /// no budget.
    pub budget: Option<Duration>,
    seed: Option<u64>,
    operation: Cow<'static, str>,
}

impl Default for RetryPolicy {
    /// The guide's policy: 3 attempts, 1 s base, 60 s cap, base 2.0, jitter on.
    fn default() -> Self {
        RetryPolicy::from_settings(&RetrySettings::BUILT_IN, None, None)
    }
}

impl RetryPolicy {
    /// Starts building a policy. Unset values come from the environment (`MAX_RETRY_ATTEMPTS`,
    /// `RETRY_BASE_DELAY`, `RETRY_MAX_DELAY`, `RETRY_EXPONENTIAL_BASE`, `RETRY_JITTER_ENABLED`),
    /// then from the built-in defaults.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder::default()
    }

    fn from_settings(s: &RetrySettings, budget: Option<Duration>, seed: Option<u64>) -> Self {
        Self {
            max_attempts: s.max_attempts,
            base_delay: s.base_delay,
            max_delay: s.max_delay,
            exponential_base: s.exponential_base,
            jitter: s.jitter,
            budget,
            seed,
            operation: Cow::Borrowed(""),
        }
    }

    /// The name of the operation retried, which labels its events and metrics (the function's
    /// name under `#[retry]`); empty unless set with [`RetryPolicyBuilder::operation`].
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The wait after failed attempt `attempt` (0-based) without jitter:
    /// `min(base_delay * exponential_base^attempt, max_delay)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let retry = resilience::RetryPolicy::builder().jitter(false).build().unwrap();
    /// let secs: Vec<u64> = (0..8).map(|k| retry.delay(k).as_secs()).collect();
    /// assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60]);
    /// ```
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let secs = self.base_delay.as_secs_f64() * self.exponential_base.powi(exponent);
        // An overflow to infinity (or a NaN from 0 * inf) is capped like any other long wait.
        match Duration::try_from_secs_f64(secs) {
            Ok(d) => d.min(self.max_delay),
            Err(_) if self.base_delay.is_zero() => Duration::ZERO,
            Err(_) => self.max_delay,
        }
    }

    /// The wait after failed attempt `attempt` with the jitter factor `factor` applied (and
    /// capped at `max_delay`). `factor` is what the policy draws from [0.5, 1.5).
    pub fn jittered_delay(&self, attempt: u32, factor: f64) -> Duration {
        let base = self.delay(attempt);
        Duration::try_from_secs_f64(base.as_secs_f64() * factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// Calls `operation` until it succeeds or the attempts are spent; every error is retried.
    ///
    /// Fails with [`RetryError::Exhausted`] (the last error and how many attempts were made).
    pub async fn execute<T, E, F, Fut>(&self, operation: F) -> Result<T, RetryError<E>>
    where
        E: fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run(|_: &E| Verdict::Retry, operation).await
    }

    /// Like [`execute`](Self::execute), but only errors for which `retry_if` returns `true`
    /// are retried; any other is returned at once as [`RetryError::Stopped`].
    pub async fn execute_if<T, E, F, Fut, P>(
        &self,
        retry_if: P,
        operation: F,
    ) -> Result<T, RetryError<E>>
    where
        E: fmt::Display,
        P: Fn(&E) -> bool,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run(
            |e: &E| {
                if retry_if(e) {
                    Verdict::Retry
                } else {
                    Verdict::Stop
                }
            },
            operation,
        )
        .await
    }

    /// Like [`execute`](Self::execute), but `retry_after` reads from each error how long the
    /// dependency asked to be left alone (a `Retry-After` header, a quota's reset time, a
    /// limiter's refusal): `Some(wait)` waits that long, at least the backoff delay, when it fits
    /// within `max_delay` and the budget, and stops otherwise, as for an open circuit (see
    /// [`Verdict::RetryAfter`]); `None` backs off as usual.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::RetryPolicy;
    ///
    /// #[derive(Debug)]
    /// enum ApiError {
    ///     /// HTTP 429 with its `Retry-After`, in seconds.
    ///     TooManyRequests { retry_after: u64 },
    ///     Unavailable,
    /// }
    /// # impl std::fmt::Display for ApiError {
    /// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") }
    /// # }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), resilience::ConfigError> {
    /// let retry = RetryPolicy::builder().base_delay(Duration::from_millis(100)).jitter(false).build()?;
    /// let started = tokio::time::Instant::now();
    /// let mut calls = 0;
    /// let answer = retry
    ///     .execute_with_retry_after(
    ///         |e: &ApiError| match e {
    ///             ApiError::TooManyRequests { retry_after } => Some(Duration::from_secs(*retry_after)),
    ///             ApiError::Unavailable => None,
    ///         },
    ///         || {
    ///             calls += 1;
    ///             let first = calls == 1;
    ///             async move { if first { Err(ApiError::TooManyRequests { retry_after: 5 }) } else { Ok("ACME Corp") } }
    ///         },
    ///     )
    ///     .await
    ///     .unwrap();
    /// assert_eq!(answer, "ACME Corp");
    /// assert_eq!(started.elapsed(), Duration::from_secs(5)); // as the server asked, not 100 ms
    /// # Ok(())
    /// # }
    /// ```
    pub async fn execute_with_retry_after<T, E, F, Fut, H>(
        &self,
        retry_after: H,
        operation: F,
    ) -> Result<T, RetryError<E>>
    where
        E: fmt::Display,
        H: Fn(&E) -> Option<Duration>,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run(|e: &E| Verdict::after(retry_after(e)), operation)
            .await
    }

    /// The guide's combination: each attempt goes through `breaker` (so the breaker sees every
    /// attempt). A rejection is not hammered: the policy waits the breaker's `retry_after` when
    /// that fits within `max_delay` (the attempt counts), and stops otherwise.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::{CircuitBreaker, RetryPolicy, RetryError};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), resilience::ConfigError> {
    /// let breaker = CircuitBreaker::builder("tier1_mcp").failure_threshold(2).build()?;
    /// let retry = RetryPolicy::builder().max_attempts(5).build()?;
    /// let r = retry.call(&breaker, || async { Err::<(), _>("down") }).await;
    /// // Two failures open the breaker. The policy then waits out its recovery timeout (60 s
    /// // fits within max_delay) instead of hammering it, probes, and gives up after 5 attempts.
    /// assert!(matches!(r, Err(RetryError::Exhausted(ref e)) if e.attempts == 5));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call<T, E, F, Fut>(
        &self,
        breaker: &CircuitBreaker,
        mut operation: F,
    ) -> Result<T, RetryError<CallError<E>>>
    where
        E: fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run(classify_call, || {
            // The operation is only called once the breaker has admitted the attempt.
            let admitted = breaker.try_acquire().map(|permit| (permit, operation()));
            async move {
                let (permit, attempt) = admitted.map_err(CallError::Rejected)?;
                let result = attempt.await;
                permit.record(&result);
                result.map_err(CallError::Failed)
            }
        })
        .await
    }

    /// The retry loop, with `classify` deciding what follows each error. The one loop behind
    /// every method here and the `#[retry]` attribute.
    pub async fn run<T, E, F, Fut, C>(
        &self,
        classify: C,
        mut operation: F,
    ) -> Result<T, RetryError<E>>
    where
        E: fmt::Display,
        C: Fn(&E) -> Verdict,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut run = self.start();
        loop {
            match operation().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    let verdict = classify(&error);
                    tokio::time::sleep(run.after_failure(error, verdict)?).await;
                }
            }
        }
    }

    /// Starts one execution, for a retry loop written by hand: call the operation, and after
    /// each failure ask [`RetryRun::after_failure`] how long to wait, or whether to give up.
    ///
    /// ```
    /// use resilience::{RetryPolicy, Verdict};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::builder().max_attempts(2).build().unwrap();
    /// let mut run = policy.start();
    /// let outcome = loop {
    ///     let result: Result<u32, &str> = Err("timeout"); // the call
    ///     match result {
    ///         Ok(v) => break Ok(v),
    ///         Err(e) => match run.after_failure(e, Verdict::Retry) {
    ///             Ok(wait) => tokio::time::sleep(wait).await,
    ///             Err(gave_up) => break Err(gave_up),
    ///         },
    ///     }
    /// };
    /// assert_eq!(outcome.unwrap_err().attempts(), 2);
    /// # }
    /// ```
    pub fn start(&self) -> RetryRun<'_> {
        RetryRun {
            policy: self,
            state: RunState::new(self),
        }
    }

    fn next_delay(&self, attempt: u32, jitter: &mut Jitter) -> Duration {
        if self.jitter {
            self.jittered_delay(attempt, jitter.factor())
        } else {
            self.delay(attempt)
        }
    }
}

/// How [`RetryPolicy::call`] treats the breaker's answers: rejections wait for the breaker,
/// failures back off.
fn classify_call<E>(e: &CallError<E>) -> Verdict {
    match e {
        CallError::Rejected(open) => Verdict::for_rejection(open),
        CallError::Failed(_) => Verdict::Retry,
    }
}

/// Why a retried operation gave up.
#[derive(Debug, thiserror::Error)]
pub enum RetryError<E> {
    /// Every attempt failed, or the next wait would have passed the budget.
    #[error(transparent)]
    Exhausted(RetryExhaustedError<E>),
    /// The error was not retryable (the predicate said so, or a circuit breaker stays open
    /// longer than `max_delay`), and is returned as it is.
    #[error("{error} (not retried, after {attempts} attempt(s))")]
    Stopped {
        /// Calls made, the first included.
        attempts: u32,
        /// The error that stopped the retries.
        error: E,
    },
}

impl<E> RetryError<E> {
    /// How many calls were made.
    pub fn attempts(&self) -> u32 {
        match self {
            RetryError::Exhausted(e) => e.attempts,
            RetryError::Stopped { attempts, .. } => *attempts,
        }
    }

    /// The last error.
    pub fn last_error(&self) -> &E {
        match self {
            RetryError::Exhausted(e) => &e.last_error,
            RetryError::Stopped { error, .. } => error,
        }
    }

    /// The last error, by value.
    pub fn into_last_error(self) -> E {
        match self {
            RetryError::Exhausted(e) => e.last_error,
            RetryError::Stopped { error, .. } => error,
        }
    }
}
