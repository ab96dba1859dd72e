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
