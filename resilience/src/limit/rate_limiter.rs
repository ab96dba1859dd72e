//! [`RateLimiter`]: at most `rate` calls (or credits) per `per`, with bursts up to `burst`.
//!
//! # How it works
//!
//! The generic cell rate algorithm (GCRA), as `governor` and `redis-cell` run it: the whole
//! state is one `AtomicU64`, the *theoretical arrival time* (TAT), the time at which the
//! limiter would be back to full if nothing more were taken. Each token is worth one
//! *interval* (`per / rate`, rounded up so that the limiter never allows more than asked); the
//! bucket holds `burst` of them (the *tolerance*, `burst x interval`). A call of cost `n` is
//! admitted when `max(TAT, now) + n x interval` is at most `now + tolerance`, and then stores
//! that as the new TAT, with one compare-and-swap. When it is not, the call may be admitted
//! that much later: `retry_after` is exactly the wait after which it would be.
//!
//! A call that may wait (`max_wait`) and whose wait fits reserves its tokens at once, moving
//! the TAT, and sleeps until they are due; dropped while it sleeps, it gives them back.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::clock;
use crate::error::ConfigError;
use crate::name::Name;

/// The largest accepted `burst`.
pub const MAX_BURST: u32 = 1_000_000_000;

/// The largest span of one full bucket (`burst x per / rate`): 100 years, so that every time
/// the limiter computes fits in nanoseconds with room to spare.
const MAX_TOLERANCE: u64 = 100 * 365 * 24 * 3600 * 1_000_000_000;

/// A rate limiter refused a call: taking its cost now would exceed the rate. The operation was
/// not called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitedError {
    pub(crate) name: Name,
    pub(crate) retry_after: Option<Duration>,
}

impl RateLimitedError {
    /// The name of the rate limiter that refused the call.
    pub fn limiter_name(&self) -> &str {
        &self.name
    }

    /// How long until the call's cost is available, if nothing else takes it first; `None` when
    /// the cost is larger than the whole burst, so that the call can never pass.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for RateLimitedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retry_after {
            Some(d) => write!(
                f,
                "rate limit '{}' reached; retry after {:.3}s",
                self.name,
                d.as_secs_f64()
            ),
            None => write!(
                f,
                "rate limit '{}': the call costs more than its whole burst",
                self.name
            ),
        }
    }
}

impl std::error::Error for RateLimitedError {}

/// The settings of one [`RateLimiter`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimiterConfig {
    /// Tokens (calls, or credits) allowed per `per`.
    pub rate: u64,
    /// The period `rate` is counted over.
    pub per: Duration,
    /// The most tokens that can be taken at once, after a quiet spell. Default: `rate` (at most
    /// [`MAX_BURST`]).
    pub burst: u32,
    /// How long a call may wait for its tokens; zero (the default) refuses it at once.
    pub max_wait: Duration,
}

/// A snapshot of one [`RateLimiter`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RateLimiterMetrics {
    /// Tokens that could be taken now.
    pub tokens_left: u64,
    /// Calls refused since the limiter was built.
    pub refused: u64,
    /// The most tokens that can be taken at once.
    pub burst: u32,
}

/// Builds a [`RateLimiter`].
///
/// ```
/// use std::time::Duration;
/// use resilience::limit::RateLimiter;
///
/// // Zoho's credits: 100 000 a day, at most 500 at once.
/// let credits = RateLimiter::builder("zoho_credits", 100_000, Duration::from_secs(24 * 3600))
///     .burst(500)
///     .build()?;
/// assert_eq!(credits.metrics().tokens_left, 500);
/// # Ok::<(), resilience::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct RateLimiterBuilder {
    name: Name,
    rate: u64,
    per: Duration,
    burst: Option<u32>,
    max_wait: Duration,
}

impl RateLimiterBuilder {
    /// The most tokens that can be taken at once, 1 to [`MAX_BURST`]. Default: `rate`.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// How long a call may wait for its tokens, at most
    /// [`MAX_DURATION`](crate::config::MAX_DURATION). Zero (the default) refuses at once.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }

    /// Checks the settings and builds the limiter.
    ///
    /// Errors: a `rate` of 0, a `per` of zero or above
    /// [`MAX_DURATION`](crate::config::MAX_DURATION), a rate above one token per nanosecond, a
    /// `burst` of 0 or above [`MAX_BURST`], a bucket (`burst x per / rate`) longer than 100
    /// years, a `max_wait` above [`MAX_DURATION`](crate::config::MAX_DURATION), a name that is
    /// not ASCII letters, digits and `_`.
    pub fn build(self) -> Result<RateLimiter, ConfigError> {
        let context = format!("rate limiter '{}'", self.name);
        let invalid = |setting, value: String, reason: String| ConfigError::InvalidSetting {
            setting,
            value,
            reason,
            context: context.clone(),
        };
        if let Err(reason) = crate::config::validate_name(&self.name) {
            return Err(invalid("name", format!("{:?}", &*self.name), reason));
        }
        if self.rate == 0 {
            return Err(invalid("rate", "0".into(), "must be at least 1".into()));
        }
        let per = clock::nanos(self.per);
        if per == 0 || self.per > crate::config::MAX_DURATION {
            return Err(invalid(
                "per",
                format!("{:?}", self.per),
                "must be greater than zero and at most 365 days".into(),
            ));
        }
        if self.rate > per {
            return Err(invalid(
                "rate",
                self.rate.to_string(),
                format!(
                    "must be at most one per nanosecond ({per} per {:?})",
                    self.per
                ),
            ));
        }
        let interval = per.div_ceil(self.rate);
        let burst = self.burst.unwrap_or_else(|| {
            u32::try_from(self.rate.min(u64::from(MAX_BURST))).unwrap_or(MAX_BURST)
        });
        if burst == 0 || burst > MAX_BURST {
            return Err(invalid(
                "burst",
                burst.to_string(),
                format!("must be from 1 to {MAX_BURST}"),
            ));
        }
        let tolerance = match interval.checked_mul(u64::from(burst)) {
            Some(t) if t <= MAX_TOLERANCE => t,
            _ => {
                return Err(invalid(
                    "burst",
                    burst.to_string(),
                    format!(
                        "a full burst would take more than 100 years to refill at {} per {:?}",
                        self.rate, self.per
                    ),
                ));
            }
        };
        if self.max_wait > crate::config::MAX_DURATION {
            return Err(invalid(
                "max_wait",
                format!("{:?}", self.max_wait),
                "must be at most 365 days".into(),
            ));
        }
        Ok(RateLimiter {
            tat: AtomicU64::new(0),
            interval,
            tolerance,
            max_wait: clock::nanos(self.max_wait),
            refused: AtomicU64::new(0),
            config: RateLimiterConfig {
                rate: self.rate,
                per: self.per,
                burst,
                max_wait: self.max_wait,
            },
            name: self.name,
        })
    }
}

/// At most `rate` tokens per `per`: Zoho's daily API credits, or any quota a dependency
/// enforces.
///
/// A call takes `cost` tokens (1 for most calls; Zoho charges some 5 to 500 credits):
/// [`try_acquire_n`](RateLimiter::try_acquire_n) never waits,
/// [`acquire_n`](RateLimiter::acquire_n) waits up to `max_wait` for them, and
/// [`run`](RateLimiter::run) takes one token then runs a future. A refusal says how long
/// until the tokens are there ([`RateLimitedError::retry_after`]).
///
/// Taking tokens is one clock read and one compare-and-swap: no lock, no allocation.
///
/// ```
/// use std::time::Duration;
/// use resilience::limit::RateLimiter;
///
/// let limiter = RateLimiter::builder("zoho_credits", 10, Duration::from_secs(1))
///     .burst(2)
///     .build()?;
/// limiter.try_acquire()?;
/// limiter.try_acquire()?;
/// let refused = limiter.try_acquire().unwrap_err(); // the burst is spent
/// assert!(refused.retry_after().unwrap() <= Duration::from_millis(100));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RateLimiter {
    /// The theoretical arrival time, in nanoseconds on the crate's clock.
    tat: AtomicU64,
    /// Nanoseconds a token is worth.
    interval: u64,
    /// Nanoseconds a full bucket is worth: `burst x interval`.
    tolerance: u64,
    max_wait: u64,
    refused: AtomicU64,
    config: RateLimiterConfig,
    name: Name,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &&*self.name)
            .field("config", &self.config)
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl RateLimiter {
    /// A builder for a limiter named `name` (ASCII letters, digits and `_`) allowing `rate`
    /// tokens per `per`.
    pub fn builder(
        name: impl Into<std::borrow::Cow<'static, str>>,
        rate: u64,
        per: Duration,
    ) -> RateLimiterBuilder {
        RateLimiterBuilder {
            name: Name::from(name.into()),
            rate,
            per,
            burst: None,
            max_wait: Duration::ZERO,
        }
    }

    /// The limiter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The limiter's settings.
    pub fn config(&self) -> &RateLimiterConfig {
        &self.config
    }

    /// Tokens left, calls refused.
    pub fn metrics(&self) -> RateLimiterMetrics {
        let now = clock::now();
        let used = self.tat.load(Ordering::Relaxed).saturating_sub(now);
        RateLimiterMetrics {
            tokens_left: self.tolerance.saturating_sub(used) / self.interval,
            refused: self.refused.load(Ordering::Relaxed),
            burst: self.config.burst,
        }
    }

    /// Takes one token if it is there now.
    #[inline]
    pub fn try_acquire(&self) -> Result<(), RateLimitedError> {
        self.try_acquire_n(1)
    }

    /// Takes `cost` tokens if they are all there now; never waits.
    #[inline]
    pub fn try_acquire_n(&self, cost: u32) -> Result<(), RateLimitedError> {
        self.reserve(cost, 0).map(|_| ())
    }

    /// Takes `cost` tokens, waiting up to `max_wait` for them.
    ///
    /// The tokens are reserved at once, so callers are served in the order they asked;
    /// dropping the returned future while it waits gives them back.
    pub fn acquire_n(&self, cost: u32) -> AcquireTokens<&RateLimiter> {
        AcquireTokens::new(self, cost)
    }

    /// [`acquire_n`](RateLimiter::acquire_n) holding the limiter by `Arc`, for a wait that
    /// outlives a borrow (a `tower` future, a spawned task).
    pub fn acquire_n_owned(self: Arc<Self>, cost: u32) -> AcquireTokens<Arc<RateLimiter>> {
        AcquireTokens::new(self, cost)
    }

    /// Takes one token, waiting up to `max_wait` for it, then runs `fut`. `fut` is not polled
    /// when the token could not be had.
    pub async fn run<F: Future>(&self, fut: F) -> Result<F::Output, RateLimitedError> {
        self.acquire_n(1).await?;
        Ok(fut.await)
    }

    /// Moves the TAT by `cost` tokens if they are due within `max_wait` nanoseconds: the wait,
    /// or the refusal.
    #[inline]
    fn reserve(&self, cost: u32, max_wait: u64) -> Result<u64, RateLimitedError> {
        let increment = u64::from(cost) * self.interval;
        if increment > self.tolerance {
            return Err(self.refuse(None));
        }
        let now = clock::now();
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now) + increment;
            let wait = (next - now).saturating_sub(self.tolerance);
            if wait > max_wait {
                return Err(self.refuse(Some(wait)));
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(wait),
                Err(current) => tat = current,
            }
        }
    }

    /// Gives back the tokens a waiting call had reserved.
    fn give_back(&self, cost: u32) {
        // While a reservation waits, the TAT is past its due time, which is past now: nothing
        // moved it back to `now` since the reservation added its tokens, and the TAT counts
        // decades of nanoseconds from the crate's clock anchor, so it holds these tokens.
        self.tat
            .fetch_sub(u64::from(cost) * self.interval, Ordering::Relaxed);
    }

    #[cold]
    fn refuse(&self, wait: Option<u64>) -> RateLimitedError {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let retry_after = wait.map(Duration::from_nanos);
        crate::events::rate_limited(&self.name, retry_after);
        RateLimitedError {
            name: self.name.clone(),
            retry_after,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RateLimiter::acquire_n`]: the tokens, or [`RateLimitedError`] at once
    /// when they would not be there within `max_wait`.
    ///
    /// Dropped while it waits, it gives its reserved tokens back.
    #[must_use = "futures do nothing unless polled"]
    pub struct AcquireTokens<B: Deref<Target = RateLimiter>> {
        limiter: B,
        cost: u32,
        // Set while the reserved tokens are not due yet.
        #[pin]
        due: Option<tokio::time::Sleep>,
        done: bool,
    }

    impl<B: Deref<Target = RateLimiter>> PinnedDrop for AcquireTokens<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.due.is_some() && !*this.done {
                this.limiter.give_back(*this.cost);
            }
        }
    }
}

impl<B: Deref<Target = RateLimiter>> AcquireTokens<B> {
    fn new(limiter: B, cost: u32) -> Self {
        AcquireTokens {
            limiter,
            cost,
            due: None,
            done: false,
        }
    }
}

impl<B: Deref<Target = RateLimiter>> fmt::Debug for AcquireTokens<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireTokens")
            .field("cost", &self.cost)
            .field("waiting", &(self.due.is_some() && !self.done))
            .finish_non_exhaustive()
    }
}

impl<B: Deref<Target = RateLimiter>> Future for AcquireTokens<B> {
    type Output = Result<(), RateLimitedError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "`AcquireTokens` polled after it completed");
        if this.due.is_none() {
            match this.limiter.reserve(*this.cost, this.limiter.max_wait) {
                Ok(0) => {
                    *this.done = true;
                    return Poll::Ready(Ok(()));
                }
                Ok(wait) => this
                    .due
                    .set(Some(tokio::time::sleep(Duration::from_nanos(wait)))),
                Err(refused) => {
                    *this.done = true;
                    return Poll::Ready(Err(refused));
                }
            }
        }
        let due = this.due.as_pin_mut().expect("set above");
        if due.poll(cx).is_pending() {
            return Poll::Pending;
        }
        *this.done = true;
        Poll::Ready(Ok(()))
    }
}
