//! Limits that protect a dependency from the service: a time limit per attempt ([`Timeout`]),
//! a cap on calls in flight ([`Bulkhead`]) and a rate ([`RateLimiter`]).
//!
//! Zoho CRM, for instance, allows each organisation a number of concurrent calls (15 on the
//! Professional edition) and a budget of API credits per rolling 24 hours, and answers HTTP 429
//! past either. A [`Bulkhead`] set to the concurrency and a [`RateLimiter`] set to the credits
//! make the client queue and shed before Zoho ever refuses.
//!
//! Each is lock-free and allocation-free on the call path, and frees what a call holds when the
//! call is dropped: a cancelled, panicking or aborted call never leaks a slot, and a call
//! cancelled while it waits for tokens gives them back (unless a later call reserved tokens behind
//! it: they then stay spent, so that the rate is never exceeded).

mod bulkhead;
mod rate_limiter;
mod timeout;

pub use bulkhead::{
    Acquire, Bulkhead, BulkheadBuilder, BulkheadConfig, BulkheadFullError, BulkheadMetrics,
    BulkheadPermit, MAX_CONCURRENT, OwnedBulkheadPermit, Slot,
};
pub use rate_limiter::{
    AcquireTokens, MAX_BURST, RateLimitedError, RateLimiter, RateLimiterBuilder, RateLimiterConfig,
    RateLimiterMetrics, Tokens,
};
pub use timeout::{Limited, Timeout, TimeoutError};

#[cfg_attr(not(feature = "fleet"), allow(unused_imports))]
pub(crate) use rate_limiter::Pace;

use std::sync::{Arc, Mutex, PoisonError};

/// Whom to tell when a limit turns a call away or makes it wait: the fleet that follows the
/// limit, which then asks Redis for more of it. Told on the refusal's and the wait's path
/// only, never on an admission's.
#[derive(Debug, Default)]
pub(crate) struct Demand(Mutex<Option<Arc<tokio::sync::Notify>>>);

impl Demand {
    /// Tells `to` (or, with `None`, nobody) from now on.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn tell(&self, to: Option<Arc<tokio::sync::Notify>>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }

    /// A call was refused or waits.
    #[cold]
    pub(crate) fn signal(&self) {
        if let Some(to) = &*self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            to.notify_one();
        }
    }
}
