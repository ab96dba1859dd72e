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

/// One execution of a [`RetryPolicy`]: counts the attempts and draws the waits. Made by
/// [`RetryPolicy::start`].
#[derive(Debug)]
pub struct RetryRun<'p> {
    policy: &'p RetryPolicy,
    state: RunState,
}

impl RetryRun<'_> {
    /// Attempts that have failed so far.
    pub fn attempts(&self) -> u32 {
        self.state.attempts()
    }

    /// Records a failed attempt and says how long to wait before the next one, or gives up
    /// (with `error` inside) when the verdict says stop, the attempts are spent or the next wait
    /// would pass the budget. Emits `retry_attempt` or `retry_exhausted`.
    pub fn after_failure<E: fmt::Display>(
        &mut self,
        error: E,
        verdict: Verdict,
    ) -> Result<Duration, RetryError<E>> {
        match self
            .state
            .after_failure(self.policy, &error, verdict, || true)
        {
            Ok(wait) => Ok(wait),
            Err(GiveUp::Stopped) => Err(RetryError::Stopped {
                attempts: self.state.attempts,
                error,
            }),
            Err(GiveUp::Exhausted) => Err(RetryError::Exhausted(RetryExhaustedError {
                attempts: self.state.attempts,
                last_error: error,
            })),
        }
    }
}

/// Why an execution gives up (the event is emitted already).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// Not retryable, or asked to wait longer than `max_delay`.
    Stopped,
    /// The attempts or the budget are spent.
    Exhausted,
}

/// The state of one execution, owned: what [`RetryRun`] borrows its policy around, and what a
/// `tower` retry keeps beside an `Arc` of its policy.
#[derive(Debug)]
pub(crate) struct RunState {
    attempts: u32,
    jitter: Jitter,
    started: Option<Instant>,
}

impl RunState {
    pub(crate) fn new(policy: &RetryPolicy) -> Self {
        RunState {
            attempts: 0,
            jitter: Jitter::new(policy.seed),
            started: policy.budget.map(|_| Instant::now()),
        }
    }

    /// Attempts that have failed so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Records a failed attempt: the wait before the next one, or why to give up. Emits
    /// `retry_attempt`, `retry_stopped` or `retry_exhausted`. `may_retry` is asked last, once
    /// the policy would retry (a retry budget withdraws there); `false` stops the retries.
    pub(crate) fn after_failure(
        &mut self,
        policy: &RetryPolicy,
        error: &dyn fmt::Display,
        verdict: Verdict,
        may_retry: impl FnOnce() -> bool,
    ) -> Result<Duration, GiveUp> {
        self.attempts += 1;
        let attempt = self.attempts;
        let wait = match verdict {
            Verdict::Stop => {
                events::retry_stopped(&policy.operation, attempt, "not retryable", error);
                return Err(GiveUp::Stopped);
            }
            Verdict::RetryAfter(wait) if wait > policy.max_delay => {
                events::retry_stopped(
                    &policy.operation,
                    attempt,
                    "asked to wait longer than max_delay",
                    error,
                );
                return Err(GiveUp::Stopped);
            }
            Verdict::RetryAfter(wait) => wait.max(policy.next_delay(attempt - 1, &mut self.jitter)),
            Verdict::Retry => policy.next_delay(attempt - 1, &mut self.jitter),
        };
        if attempt >= policy.max_attempts {
            events::retry_exhausted(&policy.operation, attempt, error);
            return Err(GiveUp::Exhausted);
        }
        if let (Some(budget), Some(started)) = (policy.budget, self.started) {
            if started.elapsed() + wait > budget {
                events::retry_exhausted(&policy.operation, attempt, error);
                return Err(GiveUp::Exhausted);
            }
        }
        if !may_retry() {
            events::retry_stopped(&policy.operation, attempt, "retry budget spent", error);
            return Err(GiveUp::Stopped);
        }
        events::retry_attempt(&policy.operation, attempt, policy.max_attempts, wait, error);
        Ok(wait)
    }
}

/// The source of jitter factors for one execution: seeded (deterministic) or the thread's
/// generator (drawn afresh each time, so the execution's future stays `Send`).
#[derive(Debug)]
enum Jitter {
    Thread,
    Seeded(SmallRng),
}

impl Jitter {
    fn new(seed: Option<u64>) -> Self {
        match seed {
            Some(seed) => Jitter::Seeded(SmallRng::seed_from_u64(seed)),
            None => Jitter::Thread,
        }
    }

    fn factor(&mut self) -> f64 {
        match self {
            Jitter::Thread => rand::rng().random_range(0.5..1.5),
            Jitter::Seeded(rng) => rng.random_range(0.5..1.5),
        }
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

/// Builds a [`RetryPolicy`]. Where a value comes from, highest first: set here, the global
/// environment variable, the built-in default.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct RetryPolicyBuilder {
    max_attempts: Option<u32>,
    base_delay: Option<Duration>,
    max_delay: Option<Duration>,
    exponential_base: Option<f64>,
    jitter: Option<bool>,
    budget: Option<Duration>,
    seed: Option<u64>,
    ignore_env: bool,
    operation: Option<Cow<'static, str>>,
}

impl RetryPolicyBuilder {
    /// Calls in all, the first included (1 to 1 000). Default 3.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// The wait after the first failed attempt (at most `max_delay`). Default 1 s.
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = Some(d);
        self
    }

    /// The longest wait (at most 365 days). Default 60 s.
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = Some(d);
        self
    }

    /// The growth of the waits (at least 1.0). Default 2.0.
    pub fn exponential_base(mut self, base: f64) -> Self {
        self.exponential_base = Some(base);
        self
    }

    /// Whether to multiply each wait by a random factor in [0.5, 1.5). Default true.
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = Some(on);
        self
    }

    /// Sets every value that `options` holds, as the matching methods would; the values it
    /// leaves out stay as they are. Options typically come from a configuration file (see
    /// [`RetryOptions`]); the environment still applies when the policy is built.
    pub fn options(mut self, options: &RetryOptions) -> Self {
        let o = options;
        self.max_attempts = o.max_attempts.or(self.max_attempts);
        self.base_delay = o.base_delay.or(self.base_delay);
        self.max_delay = o.max_delay.or(self.max_delay);
        self.exponential_base = o.exponential_base.or(self.exponential_base);
        self.jitter = o.jitter.or(self.jitter);
        self.budget = o.budget.or(self.budget);
        self
    }

    /// Gives up once the next wait would end more than `budget` after the first call.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Draws the jitter factors from a generator seeded with `seed`, so that every execution
    /// waits the same, reproducible sequence (for tests).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Names the operation retried: the `operation` field of the retry events and the label of
    /// the retry counters of [`crate::metrics`]. `#[retry]` names it after the function.
    pub fn operation(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.operation = Some(name.into());
        self
    }

    /// Ignores the environment: only the values set here and the built-in defaults count.
    pub fn ignore_env(mut self) -> Self {
        self.ignore_env = true;
        self
    }

    /// Resolves and validates the policy. An environment variable that does not parse, or that
    /// breaks the rule `base_delay <= max_delay` with the other values, is logged once and
    /// ignored alone: its setting takes the next value in precedence, and every other variable
    /// still applies (see [`crate::config#rules-between-two-settings`]). An invalid value set
    /// here is an error.
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        self.resolve(Env::Process)
    }

    /// Like [`build`](Self::build), reading variables through `lookup` instead of the process
    /// environment.
    pub fn build_with_env(
        self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<RetryPolicy, ConfigError> {
        self.resolve(Env::Lookup(&lookup))
    }

    fn resolve(&self, env: Env<'_>) -> Result<RetryPolicy, ConfigError> {
        let written = |setting: &'static str| match setting {
            "base_delay" => self.base_delay.is_some(),
            "max_delay" => self.max_delay.is_some(),
            _ => false,
        };
        if self.ignore_env {
            let code_only = self.apply(&RetrySettings::BUILT_IN);
            code_only.validate(&written)?;
            return Ok(code_only);
        }
        let raw = |variable: &str| env.raw(variable);
        let (globals, mut ignored) = env.globals();
        let mut policy = self.apply(&globals.retry);
        // A variable's own range is checked when it is read; only the rule between the two
        // delays can be broken by a variable, and only the variables that break it are ignored.
        let rule = config::retry_rule(&raw, (self.base_delay, self.max_delay));
        let (base_delay, max_delay, errors) = config::settle(&rule);
        ignored.extend(errors);
        policy.base_delay = base_delay;
        policy.max_delay = max_delay;
        policy.validate(&written)?;
        for error in &ignored {
            config::log_ignored("retry policy", error);
        }
        Ok(policy)
    }

    fn apply(&self, defaults: &RetrySettings) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.unwrap_or(defaults.max_attempts),
            base_delay: self.base_delay.unwrap_or(defaults.base_delay),
            max_delay: self.max_delay.unwrap_or(defaults.max_delay),
            exponential_base: self.exponential_base.unwrap_or(defaults.exponential_base),
            jitter: self.jitter.unwrap_or(defaults.jitter),
            budget: self.budget,
            seed: self.seed,
            operation: self.operation.clone().unwrap_or(Cow::Borrowed("")),
        }
    }
}

impl RetryPolicy {
    fn validate(&self, written: &dyn Fn(&'static str) -> bool) -> Result<(), ConfigError> {
        let err = |setting, value, reason| config::invalid("retry policy", setting, value, reason);
        if self.max_attempts == 0 || self.max_attempts > config::MAX_RETRY_ATTEMPTS {
            let reason = format!("must be from 1 to {}", config::MAX_RETRY_ATTEMPTS);
            return Err(err("max_attempts", self.max_attempts.to_string(), reason));
        }
        if self.max_delay > config::MAX_DURATION {
            let value = format!("{:?}", self.max_delay);
            return Err(err("max_delay", value, "must be at most 365 days".into()));
        }
        if self.base_delay > self.max_delay {
            let (base, max) = (self.base_delay, self.max_delay);
            return Err(config::invalid_pair(
                written,
                "retry policy",
                [
                    (
                        "base_delay",
                        format!("{base:?}"),
                        format!("must not exceed max_delay ({max:?})"),
                    ),
                    (
                        "max_delay",
                        format!("{max:?}"),
                        format!("must not be below base_delay ({base:?})"),
                    ),
                ],
            ));
        }
        if !(self.exponential_base.is_finite() && self.exponential_base >= 1.0) {
            return Err(err(
                "exponential_base",
                self.exponential_base.to_string(),
                "must be a finite number of at least 1.0 (a base below 1 would shrink the delays)"
                    .into(),
            ));
        }
        match self.budget {
            Some(b) if b.is_zero() => Err(err(
                "budget",
                "0s".into(),
                "must be greater than zero".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Checks what `options` decide on their own: each value's range, and `base_delay <= max_delay`
/// when they give both. A setting they leave out takes a value that breaks no rule.
#[cfg(feature = "serde")]
pub(crate) fn check_options(options: &RetryOptions) -> Result<(), ConfigError> {
    let o = options;
    let d = RetrySettings::BUILT_IN;
    let policy = RetryPolicy {
        max_attempts: o.max_attempts.unwrap_or(d.max_attempts),
        base_delay: o.base_delay.unwrap_or(Duration::ZERO),
        max_delay: o.max_delay.unwrap_or(config::MAX_DURATION),
        exponential_base: o.exponential_base.unwrap_or(d.exponential_base),
        jitter: o.jitter.unwrap_or(d.jitter),
        budget: o.budget,
        seed: None,
        operation: Cow::Borrowed(""),
    };
    policy.validate(&|setting| match setting {
        "base_delay" => o.base_delay.is_some(),
        "max_delay" => o.max_delay.is_some(),
        _ => true,
    })
}
