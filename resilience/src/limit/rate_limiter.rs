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
//! the TAT, and sleeps until they are due; dropped while it sleeps, it gives them back if no
//! later reservation follows them (otherwise they stay spent).

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::futures::OwnedNotified;
use tokio::time::Sleep;

use crate::clock;
use crate::config::{Env, LimitKey, MAX_RATE, RateLimitVars};
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
    read_env: bool,
    /// The largest cost a call written for this limiter takes: the burst may not go below it.
    min_burst: u32,
}

/// The settings as resolved: code, then the environment.
#[derive(Debug, Clone, Copy)]
struct Resolved {
    rate: u64,
    per: Duration,
    burst: Option<u32>,
    max_wait: Duration,
    min_burst: u32,
}

impl Resolved {
    /// The burst (`rate` unless set), the interval and the tolerance in nanoseconds, or the
    /// setting at fault with its value and the reason.
    fn derive(&self) -> Result<(u32, u64, u64), (&'static str, String, String)> {
        if self.rate == 0 {
            return Err(("rate", "0".into(), "must be at least 1".into()));
        }
        if self.rate > MAX_RATE {
            return Err((
                "rate",
                self.rate.to_string(),
                format!("must be at most {MAX_RATE}"),
            ));
        }
        let per = clock::nanos(self.per);
        if per == 0 || self.per > crate::config::MAX_DURATION {
            return Err((
                "per",
                format!("{:?}", self.per),
                "must be greater than zero and at most 365 days".into(),
            ));
        }
        if self.rate > per {
            return Err((
                "rate",
                self.rate.to_string(),
                format!(
                    "must be at most one per nanosecond ({per} per {:?})",
                    self.per
                ),
            ));
        }
        let interval = per.div_ceil(self.rate);
        let burst = self
            .burst
            .unwrap_or_else(|| u32::try_from(self.rate).unwrap_or(MAX_BURST).min(MAX_BURST));
        if burst == 0 || burst > MAX_BURST {
            return Err((
                "burst",
                burst.to_string(),
                format!("must be from 1 to {MAX_BURST}"),
            ));
        }
        if burst < self.min_burst {
            return Err((
                "burst",
                burst.to_string(),
                format!(
                    "must be at least {}, the cost of a call written for this limiter (a call costing more than the burst is never admitted)",
                    self.min_burst
                ),
            ));
        }
        match interval.checked_mul(u64::from(burst)) {
            Some(tolerance) if tolerance <= MAX_TOLERANCE => Ok((burst, interval, tolerance)),
            _ => Err((
                "burst",
                burst.to_string(),
                format!(
                    "a full burst would take more than 100 years to refill at {} per {:?}",
                    self.rate, self.per
                ),
            )),
        }
    }
}

impl RateLimiterBuilder {
    /// The burst may not go below `cost`, the largest cost of a call written for this limiter
    /// (in a `#[rate_limit]`): an environment variable that would put it there is ignored.
    pub(crate) fn min_burst(mut self, cost: u32) -> Self {
        self.min_burst = cost.max(1);
        self
    }

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

    /// Ignores the environment: only the values set here count.
    pub fn ignore_env(mut self) -> Self {
        self.read_env = false;
        self
    }

    /// Checks the settings, applies the limiter's environment variables
    /// (`RATE_LIMIT_<NAME>_RATE`, `_PER`, `_BURST`, `_MAX_WAIT`; see
    /// [`LimitKey`](crate::config::LimitKey)) unless [`ignore_env`](Self::ignore_env) was
    /// called, and builds the limiter.
    ///
    /// Errors, for values set here: a `rate` of 0 or above
    /// [`MAX_RATE`](crate::config::MAX_RATE), a `per` of zero or above
    /// [`MAX_DURATION`](crate::config::MAX_DURATION), a rate above one token per nanosecond, a
    /// `burst` of 0 or above [`MAX_BURST`], a bucket (`burst x per / rate`) longer than 100
    /// years, a `max_wait` above [`MAX_DURATION`](crate::config::MAX_DURATION), a name that is
    /// not ASCII letters, digits and `_`. A variable that does not parse, or that makes the
    /// settings break one of these rules, is logged at error level and ignored alone.
    pub fn build(self) -> Result<RateLimiter, ConfigError> {
        let env = self.read_env.then_some(Env::Process);
        self.build_in(env)
    }

    /// Like [`build`](Self::build), reading the variables through `lookup` instead of the
    /// process environment.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::limit::RateLimiter;
    ///
    /// let env = |var: &str| (var == "RATE_LIMIT_ZOHO_CREDITS_BURST").then(|| "50".to_owned());
    /// let credits = RateLimiter::builder("zoho_credits", 100_000, Duration::from_secs(86_400))
    ///     .burst(500)
    ///     .build_with_env(env)?;
    /// assert_eq!(credits.config().burst, 50); // the variable wins
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn build_with_env(
        self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<RateLimiter, ConfigError> {
        self.build_in(Some(Env::Lookup(&lookup)))
    }

    fn build_in(self, env: Option<Env<'_>>) -> Result<RateLimiter, ConfigError> {
        let context = format!("rate limiter '{}'", self.name);
        let invalid = |(setting, value, reason): (&'static str, String, String)| {
            crate::config::invalid(&context, setting, value, reason)
        };
        if let Err(reason) = crate::config::validate_name(&self.name) {
            return Err(invalid(("name", format!("{:?}", &*self.name), reason)));
        }
        let written = Resolved {
            rate: self.rate,
            per: self.per,
            burst: self.burst,
            max_wait: self.max_wait,
            min_burst: self.min_burst,
        };
        written.derive().map_err(invalid)?;
        if written.max_wait > crate::config::MAX_DURATION {
            return Err(invalid((
                "max_wait",
                format!("{:?}", written.max_wait),
                "must be at most 365 days".into(),
            )));
        }
        let mut resolved = written;
        if let Some(env) = env {
            let (vars, mut ignored) = RateLimitVars::read(&self.name, env);
            resolved = apply_vars(&self.name, written, vars, &mut ignored);
            for error in &ignored {
                crate::config::log_ignored(&context, error);
            }
        }
        let (burst, interval, tolerance) = resolved.derive().map_err(invalid)?;
        // A limiter built in a test whose clock is paused follows that clock from its first
        // call (see "Clock" on `RateLimiter`).
        clock::now_noting_pause();
        Ok(RateLimiter {
            tat: AtomicU64::new(0),
            interval: AtomicU64::new(interval),
            tolerance: AtomicU64::new(tolerance),
            own: (interval, tolerance),
            fleet: std::sync::atomic::AtomicBool::new(false),
            demand: super::Demand::default(),
            added: Arc::new(tokio::sync::Notify::new()),
            waited: AtomicU64::new(0),
            max_wait: clock::nanos(resolved.max_wait),
            refused: AtomicU64::new(0),
            config: RateLimiterConfig {
                rate: resolved.rate,
                per: resolved.per,
                burst,
                max_wait: resolved.max_wait,
            },
            name: self.name,
        })
    }
}

/// The written settings with the variables applied. When the variables of `rate`, `per` and
/// `burst` together break a rule that the written values keep, the fewest of them that mend it
/// are ignored (the burst's first, then the rate's, then the period's), each recorded in
/// `ignored` with the rule it breaks.
fn apply_vars(
    name: &str,
    written: Resolved,
    vars: RateLimitVars,
    ignored: &mut Vec<ConfigError>,
) -> Resolved {
    let with = |mask: u8| Resolved {
        rate: vars.rate.filter(|_| mask & 1 != 0).unwrap_or(written.rate),
        per: vars.per.filter(|_| mask & 2 != 0).unwrap_or(written.per),
        burst: vars.burst.filter(|_| mask & 4 != 0).or(written.burst),
        max_wait: vars.max_wait.unwrap_or(written.max_wait),
        min_burst: written.min_burst,
    };
    let all = 0b111;
    let full = with(all);
    let Err((_, _, reason)) = full.derive() else {
        return full;
    };
    // Most variables kept first; among equals, keep the period, then the rate.
    let mut masks: Vec<u8> = (0..all).collect();
    masks.sort_by_key(|m| {
        (
            std::cmp::Reverse(m.count_ones()),
            std::cmp::Reverse(m & 2),
            std::cmp::Reverse(m & 1),
        )
    });
    let present = |bit: u8| match bit {
        1 => vars.rate.map(|v| v.to_string()),
        2 => vars.per.map(|v| format!("{v:?}")),
        _ => vars.burst.map(|v| v.to_string()),
    };
    for mask in masks {
        let candidate = with(mask);
        if candidate.derive().is_ok() {
            for (bit, key) in [
                (1, LimitKey::Rate),
                (2, LimitKey::Per),
                (4, LimitKey::Burst),
            ] {
                if mask & bit == 0 {
                    if let Some(value) = present(bit) {
                        ignored.push(ConfigError::InvalidEnv {
                            variable: key.var(name),
                            value,
                            reason: reason.clone(),
                        });
                    }
                }
            }
            return candidate;
        }
    }
    written
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
/// # Clock
///
/// The limiter follows tokio's clock, paused or not. In the build users get on Linux (without
/// the `test-util` feature), an admission reads the kernel's coarse clock instead (a few
/// nanoseconds against tens for the precise one; it runs behind by less than one kernel tick,
/// 4 ms at the usual 250 Hz): a token may then be handed out up to a tick before it is due, so
/// that over any interval the limiter admits at most `burst` plus the rate over that interval
/// lengthened by a tick. Every refusal is decided on the precise clock: a call refused with a
/// `retry_after` that waits it finds its tokens due. Once tokio's clock has been seen paused
/// (in a test), every check reads tokio's clock.
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
    /// Nanoseconds a token is worth: `per / rate`, unless a fleet sets another pace (see
    /// [`pace`](RateLimiter::pace)).
    interval: AtomicU64,
    /// Nanoseconds a full bucket is worth: `burst x interval`.
    tolerance: AtomicU64,
    /// The interval and tolerance of the settings.
    own: (u64, u64),
    /// Whether the tokens are the fleet's blocks ([`Pace::Fleet`]).
    fleet: std::sync::atomic::AtomicBool,
    /// Told when a call is refused, or waits for the fleet's tokens.
    demand: super::Demand,
    /// Wakes the calls that wait for the fleet's tokens: when a block falls due, and when the
    /// pace changes.
    added: Arc<tokio::sync::Notify>,
    /// Tokens asked for by calls that waited for the fleet's (each time they began to wait).
    waited: AtomicU64,
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
            read_env: true,
            min_burst: 1,
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
        RateLimiterMetrics {
            tokens_left: self.tokens_left(),
            refused: self.refused.load(Ordering::Relaxed),
            burst: self.config.burst,
        }
    }

    /// Takes one token if it is there now.
    #[inline]
    pub fn try_acquire(&self) -> Result<(), RateLimitedError> {
        self.try_acquire_n(1)
    }

    /// Takes `cost` tokens if they are all there now; never waits. A cost of zero takes
    /// nothing and always passes; a cost above the burst never does.
    #[inline]
    pub fn try_acquire_n(&self, cost: u32) -> Result<(), RateLimitedError> {
        self.reserve(cost, 0).map(drop)
    }

    /// Takes `cost` tokens, waiting up to `max_wait` for them.
    ///
    /// The tokens are reserved at once, so callers are served in the order they asked;
    /// dropping the returned future while it waits gives them back, unless a later call has
    /// reserved tokens behind them (they then stay spent: giving them back under the later
    /// reservation would let two calls through where the rate allows one).
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
    fn reserve(&self, cost: u32, max_wait: u64) -> Result<Reserved, RateLimitedError> {
        self.reserve_or(cost, max_wait)
            .map_err(|wait| self.refuse(wait))
    }

    /// [`reserve`](Self::reserve), the refusal not yet counted nor told: the wait it would
    /// report (`None` when the cost is above the burst).
    #[inline]
    fn reserve_or(&self, cost: u32, max_wait: u64) -> Result<Reserved, Option<u64>> {
        if cost == 0 {
            return Ok(Reserved {
                wait: 0,
                left_at: NOTHING_TAKEN,
            });
        }
        if cost > self.config.burst {
            return Err(None);
        }
        // At most `tolerance`: no overflow.
        let increment = u64::from(cost) * self.interval.load(Ordering::Relaxed);
        // The coarse clock may admit (it is never ahead of the precise one, so a wait measured
        // on it is never shorter); only the precise clock refuses.
        if let Some(now) = clock::coarse_since_anchor() {
            if let Ok(reserved) = self.take(now, increment, max_wait) {
                return Ok(reserved);
            }
        }
        self.take(clock::now_noting_pause(), increment, max_wait)
            .map_err(|wait| Some(self.retry_wait(wait, cost)))
    }

    /// Moves the TAT by `increment` as of `now` if the tokens are due within `max_wait`
    /// nanoseconds: the reservation, or the wait they would need.
    #[inline]
    fn take(&self, now: u64, increment: u64, max_wait: u64) -> Result<Reserved, u64> {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now) + increment;
            let wait = (next - now).saturating_sub(self.tolerance.load(Ordering::Relaxed));
            if wait > max_wait {
                return Err(wait);
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Ok(Reserved {
                        wait,
                        left_at: next,
                    });
                }
                Err(current) => tat = current,
            }
        }
    }

    /// Gives back `cost` tokens whose reservation left the TAT at `left_at`, if no later
    /// reservation follows them (the TAT is still there): an exact undo. Behind a later
    /// reservation they stay spent: moving the TAT back under it would hand the later call's
    /// instant to the next caller too, two calls where the rate allows one.
    fn give_back(&self, cost: u32, left_at: u64) {
        if left_at == NOTHING_TAKEN {
            return;
        }
        let _ = self.tat.compare_exchange(
            left_at,
            left_at - u64::from(cost) * self.interval.load(Ordering::Relaxed),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Takes `cost` tokens like [`acquire_n`](RateLimiter::acquire_n), for a call that may
    /// still not start (a bulkhead may refuse it, its caller may drop it): the tokens come as
    /// a guard that gives them back when dropped, unless a later call has reserved tokens
    /// behind them, and keeps them once [`Tokens::spend`] says the call started.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::limit::RateLimiter;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let credits = RateLimiter::builder("docs_take", 2, Duration::from_secs(3600)).build()?;
    /// let tokens = credits.take_n(1).await?;
    /// drop(tokens); // the call never started: the credit is back
    /// assert_eq!(credits.metrics().tokens_left, 2);
    /// credits.take_n(1).await?.spend(); // this one did
    /// assert_eq!(credits.metrics().tokens_left, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn take_n(&self, cost: u32) -> Result<Tokens<'_>, RateLimitedError> {
        let mut acquire = std::pin::pin!(self.acquire_n(cost));
        acquire.as_mut().await?;
        Ok(Tokens {
            limiter: self,
            cost,
            left_at: acquire.left_at.unwrap_or(NOTHING_TAKEN),
        })
    }

    /// Tokens that could be taken now.
    fn tokens_left(&self) -> u64 {
        let now = clock::now();
        let used = self.tat.load(Ordering::Relaxed).saturating_sub(now);
        let interval = self.interval.load(Ordering::Relaxed);
        self.tolerance.load(Ordering::Relaxed).saturating_sub(used) / interval
    }

    /// The wait a refusal tells: on the fleet's pace, the time the fleet's rate takes to
    /// earn the call's cost (this replica's block has run out; the fleet's task asks for more).
    #[cold]
    fn retry_wait(&self, wait: u64, cost: u32) -> u64 {
        if self.fleet.load(Ordering::Relaxed) {
            u64::from(cost) * self.own.0
        } else {
            wait
        }
    }

    /// Sets how the limiter earns tokens from now on, starting with a full bucket (on its own
    /// pace or a share) or an empty one (on the fleet's).
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn pace(&self, pace: Pace) {
        let (own_interval, own_tolerance) = self.own;
        let burst = u64::from(self.config.burst);
        let (interval, tolerance, fleet) = match pace {
            Pace::Own => (own_interval, own_tolerance, false),
            Pace::Share(fraction) => {
                let fraction = fraction.clamp(f64::MIN_POSITIVE, 1.0);
                let interval = ((own_interval as f64 / fraction).ceil() as u64)
                    .clamp(own_interval, MAX_TOLERANCE);
                let share = ((burst as f64 * fraction).floor() as u64).clamp(1, burst);
                (interval, (interval * share).min(MAX_TOLERANCE), false)
            }
            // A full bucket takes 100 years to earn: the tokens are those the fleet hands out.
            Pace::Fleet => {
                let interval = MAX_TOLERANCE / burst;
                (interval, interval * burst, true)
            }
        };
        let now = clock::now();
        // Empty while the pace changes: a call that reads the old interval and the new
        // tolerance (or the other way round) is refused, never admitted for nothing.
        self.tat.store(now + MAX_TOLERANCE, Ordering::Relaxed);
        self.interval.store(interval, Ordering::Relaxed);
        self.tolerance.store(tolerance, Ordering::Relaxed);
        self.fleet.store(fleet, Ordering::Relaxed);
        let start = if fleet { now + tolerance } else { now };
        self.tat.store(start, Ordering::Relaxed);
        // The calls waiting for the fleet's tokens look again: on their own pace now, or on
        // the fleet's from an empty bucket.
        self.added.notify_waiters();
    }

    /// Tokens left now (on the fleet's pace: of the blocks the fleet handed out).
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn tokens(&self) -> u64 {
        self.tokens_left()
    }

    /// Adds `n` tokens the fleet handed out, at most what the bucket has room for: the number
    /// added (the rest is the fleet's to take back). Wakes the calls waiting for them.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn add_tokens(&self, n: u64) -> u64 {
        let interval = self.interval.load(Ordering::Relaxed);
        let room = u64::from(self.config.burst).saturating_sub(self.tokens_left());
        let added = n.min(room);
        self.tat.fetch_sub(added * interval, Ordering::Relaxed);
        if added > 0 {
            self.added.notify_waiters();
        }
        added
    }

    /// Tokens asked for by calls that waited for the fleet's, since the limiter was built.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn waited(&self) -> u64 {
        self.waited.load(Ordering::Relaxed)
    }

    /// Whether a call refused now (`wait`: what the refusal would tell) waits for the fleet's
    /// next tokens instead: on the fleet's pace, with a `max_wait`, for a cost within the
    /// burst.
    #[cold]
    fn waits_for_fleet(&self, wait: Option<u64>) -> bool {
        wait.is_some() && self.max_wait > 0 && self.fleet.load(Ordering::Relaxed)
    }

    /// A call begins (again) to wait for the fleet's tokens: the fleet's task is told.
    #[cold]
    fn wait_for_fleet(&self, cost: u32) {
        self.waited.fetch_add(u64::from(cost), Ordering::Relaxed);
        self.demand.signal();
    }

    /// Takes back up to `n` unspent tokens, to return them to the fleet: the number taken.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn take_tokens(&self, n: u64) -> u64 {
        let interval = self.interval.load(Ordering::Relaxed);
        let n = n.min(self.tokens_left());
        if n > 0 && self.take(clock::now(), n * interval, 0).is_ok() {
            n
        } else {
            0
        }
    }

    /// Whom to tell when a call is refused.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn demand(&self) -> &super::Demand {
        &self.demand
    }

    #[cold]
    fn refuse(&self, wait: Option<u64>) -> RateLimitedError {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.demand.signal();
        let retry_after = wait.map(Duration::from_nanos);
        crate::events::rate_limited(&self.name, retry_after);
        RateLimitedError {
            name: self.name.clone(),
            retry_after,
        }
    }
}

/// How a [`RateLimiter`] earns its tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(not(feature = "fleet"), allow(dead_code))]
pub(crate) enum Pace {
    /// At its settings' rate and burst.
    Own,
    /// At a share of them (a fleet's replica while Redis is unreachable).
    Share(f64),
    /// Not by itself: its tokens are the blocks a fleet hands out
    /// ([`add_tokens`](RateLimiter::add_tokens)).
    Fleet,
}

/// Tokens reserved: how long until they are due, and the TAT the reservation left (what
/// [`RateLimiter::give_back`] checks).
#[derive(Debug, Clone, Copy)]
struct Reserved {
    wait: u64,
    left_at: u64,
}

/// A `left_at` that takes nothing back: a cost of zero reserved nothing.
const NOTHING_TAKEN: u64 = u64::MAX;

/// Tokens taken by [`RateLimiter::take_n`] for a call that has not started yet.
///
/// Dropped, they go back to the limiter, unless a later call has reserved tokens behind them
/// (they then stay spent, so that the rate is never exceeded); [`spend`](Tokens::spend) keeps
/// them spent once the call starts.
#[must_use = "dropping the tokens gives them back: call `spend` when the call starts"]
#[derive(Debug)]
pub struct Tokens<'a> {
    limiter: &'a RateLimiter,
    cost: u32,
    left_at: u64,
}

impl Tokens<'_> {
    /// The call started: the tokens stay spent.
    #[inline]
    pub fn spend(mut self) {
        self.left_at = NOTHING_TAKEN;
    }
}

impl Drop for Tokens<'_> {
    #[inline]
    fn drop(&mut self) {
        self.limiter.give_back(self.cost, self.left_at);
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RateLimiter::acquire_n`]: the tokens, or [`RateLimitedError`] at once
    /// when they would not be there within `max_wait`.
    ///
    /// Dropped while it waits, it gives its reserved tokens back. Waiting needs a tokio runtime
    /// with time enabled; taking tokens that are there does not.
    #[must_use = "futures do nothing unless polled"]
    pub struct AcquireTokens<B: Deref<Target = RateLimiter>> {
        limiter: B,
        cost: u32,
        // The TAT the reservation left, once the tokens are reserved.
        left_at: Option<u64>,
        // Sleeping until the reserved tokens are due.
        waiting: bool,
        #[pin]
        sleep: Option<tokio::time::Sleep>,
        // Waiting for the fleet's next tokens (nothing reserved); `sleep` is the deadline.
        fleet: Option<Pin<Box<OwnedNotified>>>,
        done: bool,
    }

    impl<B: Deref<Target = RateLimiter>> PinnedDrop for AcquireTokens<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let (Some(left_at), true) = (*this.left_at, *this.waiting) {
                this.limiter.give_back(*this.cost, left_at);
            }
        }
    }
}

impl<B: Deref<Target = RateLimiter>> AcquireTokens<B> {
    fn new(limiter: B, cost: u32) -> Self {
        AcquireTokens {
            limiter,
            cost,
            left_at: None,
            waiting: false,
            sleep: None,
            fleet: None,
            done: false,
        }
    }
}

impl<B: Deref<Target = RateLimiter>> fmt::Debug for AcquireTokens<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireTokens")
            .field("cost", &self.cost)
            .field("waiting", &self.waiting)
            .finish_non_exhaustive()
    }
}

impl<B: Deref<Target = RateLimiter>> Future for AcquireTokens<B> {
    type Output = Result<(), RateLimitedError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "`AcquireTokens` polled after it completed");
        if this.left_at.is_none() && this.fleet.is_none() {
            match this.limiter.reserve_or(*this.cost, this.limiter.max_wait) {
                Ok(Reserved { wait: 0, left_at }) => {
                    *this.left_at = Some(left_at);
                    *this.done = true;
                    return Poll::Ready(Ok(()));
                }
                Ok(reserved) => {
                    // Recorded before the timer is made, so that the tokens go back even if
                    // making it fails (no runtime).
                    *this.left_at = Some(reserved.left_at);
                    *this.waiting = true;
                    this.sleep.set(Some(tokio::time::sleep(Duration::from_nanos(
                        reserved.wait,
                    ))));
                }
                Err(wait) if this.limiter.waits_for_fleet(wait) => {
                    // This replica's block is spent: the call waits for the fleet's next
                    // tokens, up to `max_wait`, as it would for its own limiter's.
                    this.sleep.set(Some(tokio::time::sleep(Duration::from_nanos(
                        this.limiter.max_wait,
                    ))));
                    *this.fleet = Some(Box::pin(Arc::clone(&this.limiter.added).notified_owned()));
                }
                Err(wait) => {
                    *this.done = true;
                    return Poll::Ready(Err(this.limiter.refuse(wait)));
                }
            }
        }
        if let Some(notified) = this.fleet.as_mut() {
            loop {
                // Registered before looking, so that tokens added after the look wake it.
                notified.as_mut().enable();
                if !this.limiter.fleet.load(Ordering::Relaxed) {
                    // Off the fleet's pace (detached, or Redis unreachable): the limiter's
                    // own tokens, within what is left of the wait.
                    *this.fleet = None;
                    let deadline = this.sleep.as_ref().get_ref().as_ref().map(Sleep::deadline);
                    let left = deadline.map_or(Duration::ZERO, |deadline| {
                        deadline.saturating_duration_since(tokio::time::Instant::now())
                    });
                    match this.limiter.reserve(*this.cost, clock::nanos(left)) {
                        Ok(Reserved { wait: 0, left_at }) => {
                            *this.left_at = Some(left_at);
                            *this.done = true;
                            return Poll::Ready(Ok(()));
                        }
                        Ok(reserved) => {
                            *this.left_at = Some(reserved.left_at);
                            *this.waiting = true;
                            this.sleep.set(Some(tokio::time::sleep(Duration::from_nanos(
                                reserved.wait,
                            ))));
                        }
                        Err(refused) => {
                            *this.done = true;
                            return Poll::Ready(Err(refused));
                        }
                    }
                    break;
                }
                if let Ok(Reserved { left_at, .. }) = this.limiter.reserve_or(*this.cost, 0) {
                    *this.fleet = None;
                    *this.left_at = Some(left_at);
                    *this.done = true;
                    return Poll::Ready(Ok(()));
                }
                this.limiter.wait_for_fleet(*this.cost);
                if notified.as_mut().poll(cx).is_ready() {
                    // Tokens came (or the pace changed), and other calls may have taken them:
                    // look again, registered anew.
                    notified.set(Arc::clone(&this.limiter.added).notified_owned());
                    continue;
                }
                let deadline = this.sleep.as_mut().as_pin_mut().expect("set with `fleet`");
                if deadline.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                *this.fleet = None;
                *this.done = true;
                let wait = this.limiter.retry_wait(0, *this.cost);
                return Poll::Ready(Err(this.limiter.refuse(Some(wait))));
            }
        }
        let sleep = this.sleep.as_pin_mut().expect("set with `waiting`");
        if sleep.poll(cx).is_pending() {
            return Poll::Pending;
        }
        *this.waiting = false;
        *this.done = true;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> RateLimiter {
        RateLimiter::builder("unit_pace", 10, Duration::from_secs(1))
            .burst(8)
            .ignore_env()
            .build()
            .unwrap()
    }

    /// On the fleet's pace the limiter earns nothing by itself: it spends the blocks it is
    /// given, gives back what it did not spend, and a refusal tells the fleet's pace.
    #[test]
    fn on_the_fleets_pace_only_the_blocks_handed_out_are_spent() {
        let credits = limiter();
        credits.pace(Pace::Fleet);
        assert_eq!(credits.tokens(), 0);
        let refused = credits.try_acquire().unwrap_err();
        assert_eq!(refused.retry_after(), Some(Duration::from_millis(100)));
        credits.add_tokens(3);
        assert_eq!(credits.tokens(), 3);
        credits.try_acquire_n(2).expect("two of the block");
        assert_eq!(
            credits.take_tokens(5),
            1,
            "only the unspent token goes back"
        );
        assert!(credits.try_acquire().is_err());
        // A block never fills the bucket past its burst.
        credits.add_tokens(100);
        assert_eq!(credits.tokens(), 8);
        credits.pace(Pace::Own);
        assert_eq!(credits.tokens(), 8);
        assert_eq!(credits.metrics().refused, 2);
    }

    /// On the fleet's pace, a call with a `max_wait` whose replica's block is spent waits for
    /// the fleet's next tokens, as it would for its own limiter's: admitted when they come,
    /// refused when they do not within `max_wait`, and on its own pace again if the fleet
    /// lets go meanwhile.
    #[tokio::test(start_paused = true)]
    async fn on_the_fleets_pace_a_call_with_max_wait_waits_for_the_next_block() {
        let credits = Arc::new(
            RateLimiter::builder("unit_fleet_wait", 10, Duration::from_secs(1))
                .burst(8)
                .max_wait(Duration::from_millis(500))
                .ignore_env()
                .build()
                .unwrap(),
        );
        let notify = Arc::new(tokio::sync::Notify::new());
        credits.demand().tell(Some(Arc::clone(&notify)));
        credits.pace(Pace::Fleet);
        // Tokens that come within the wait: admitted.
        let waiting = tokio::spawn(Arc::clone(&credits).acquire_n_owned(2));
        notify.notified().await; // the fleet's task is told
        assert!(credits.waited() >= 2);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "no tokens yet");
        assert_eq!(credits.add_tokens(1), 1);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!waiting.is_finished(), "one token of the two");
        assert_eq!(credits.add_tokens(1), 1);
        waiting.await.unwrap().expect("admitted once both came");
        assert_eq!(credits.tokens(), 0);
        // None within the wait: refused at its end, with the fleet's rate as the hint.
        let started = tokio::time::Instant::now();
        let refused = credits.acquire_n(1).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        assert_eq!(refused.retry_after(), Some(Duration::from_millis(100)));
        assert_eq!(
            credits.metrics().refused,
            1,
            "one refusal, not one per look"
        );
        // The fleet lets go while a call waits: its own tokens serve it.
        let waiting = tokio::spawn(Arc::clone(&credits).acquire_n_owned(1));
        tokio::time::sleep(Duration::from_millis(10)).await;
        credits.pace(Pace::Own);
        waiting.await.unwrap().expect("its own limiter's token");
        // A cost above the burst is refused at once, fleet or not.
        credits.pace(Pace::Fleet);
        assert_eq!(credits.acquire_n(9).await.unwrap_err().retry_after(), None);
    }

    /// A share of the settings: a share of the burst (at least one token).
    #[test]
    fn a_local_share_is_a_share_of_the_burst() {
        let credits = limiter();
        credits.pace(Pace::Share(0.5));
        assert_eq!(credits.tokens(), 4);
        credits.try_acquire_n(4).expect("the share's burst");
        assert!(credits.try_acquire().is_err());
        credits.pace(Pace::Share(0.01));
        assert_eq!(credits.tokens(), 1);
    }
}
