//! The limits Zoho CRM enforces per organisation, shared by the three tiers of the stand-in: a
//! number of concurrent calls and a budget of API credits over a rolling window (24 hours at
//! Zoho; seconds in the demo). Past either, a tier answers HTTP 429 with Zoho's
//! `TOO_MANY_REQUESTS` body and no `Retry-After` header, as Zoho does.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The demo organisation's concurrency: Zoho's Professional edition allows 15 calls at once.
pub const MAX_CONCURRENT: u32 = 15;

/// The demo organisation's API credits per [`WINDOW`]. (Zoho counts per rolling 24 hours; the
/// demo's window is seconds long so that a burst reaches it.)
pub const CREDITS: u64 = 400;

/// The rolling window of the demo organisation's [`CREDITS`].
pub const WINDOW: Duration = Duration::from_secs(10);

/// An organisation's limits, and what the tiers saw of them.
///
/// ```
/// use std::time::Duration;
/// use resilience_examples::zoho::org::{OrgLimits, Refusal};
///
/// let org = OrgLimits::new(1, 2, Duration::from_secs(60));
/// let first = org.admit(1).unwrap();
/// assert_eq!(org.admit(1).unwrap_err(), Refusal::Concurrency); // one call at a time
/// drop(first);
/// drop(org.admit(1).unwrap());
/// assert_eq!(org.admit(1).unwrap_err(), Refusal::Credits); // two credits a minute, spent
/// assert_eq!(org.too_many_requests(), 2);
/// assert_eq!(org.peak_concurrency(), 1);
/// ```
#[derive(Debug)]
pub struct OrgLimits {
    max_concurrent: u32,
    credits: u64,
    window: Duration,
    in_flight: AtomicU32,
    peak: AtomicU32,
    spent: Mutex<VecDeque<(Instant, u64)>>,
    refused: AtomicU64,
}

/// Why a call was answered 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The organisation already had `max_concurrent` calls in flight.
    Concurrency,
    /// The organisation's credits for the window were spent.
    Credits,
}

impl OrgLimits {
    /// At most `max_concurrent` calls at once and `credits` credits per rolling `window`.
    pub fn new(max_concurrent: u32, credits: u64, window: Duration) -> Self {
        Self {
            max_concurrent,
            credits,
            window,
            in_flight: AtomicU32::new(0),
            peak: AtomicU32::new(0),
            spent: Mutex::new(VecDeque::new()),
            refused: AtomicU64::new(0),
        }
    }

    /// The demo organisation: [`MAX_CONCURRENT`] calls at once, [`CREDITS`] per [`WINDOW`].
    pub fn demo() -> Self {
        Self::new(MAX_CONCURRENT, CREDITS, WINDOW)
    }

    /// The concurrency limit.
    pub fn max_concurrent(&self) -> u32 {
        self.max_concurrent
    }

    /// The credits allowed per window.
    pub fn credits(&self) -> u64 {
        self.credits
    }

    /// The length of the rolling window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Admits a call costing `cost` credits, or refuses it (counted as a 429). The call counts
    /// as in flight until the returned guard is dropped.
    pub fn admit(&self, cost: u64) -> Result<InFlight<'_>, Refusal> {
        let taken = self
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max_concurrent).then_some(n + 1)
            });
        let Ok(before) = taken else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Concurrency);
        };
        let guard = InFlight(self);
        self.peak.fetch_max(before + 1, Ordering::SeqCst);
        let mut spent = self.spent.lock().unwrap_or_else(PoisonError::into_inner);
        let at = Instant::now();
        while spent
            .front()
            .is_some_and(|&(t, _)| at.duration_since(t) >= self.window)
        {
            spent.pop_front();
        }
        let used: u64 = spent.iter().map(|&(_, c)| c).sum();
        if used + cost > self.credits {
            drop(spent);
            drop(guard);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Credits);
        }
        spent.push_back((at, cost));
        Ok(guard)
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The most calls that were ever admitted at once.
    pub fn peak_concurrency(&self) -> u32 {
        self.peak.load(Ordering::SeqCst)
    }

    /// Credits spent within the current window.
    pub fn credits_used(&self) -> u64 {
        let spent = self.spent.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        spent
            .iter()
            .filter(|&&(t, _)| now.duration_since(t) < self.window)
            .map(|&(_, c)| c)
            .sum()
    }

    /// How many calls were answered 429.
    pub fn too_many_requests(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// A call admitted by [`OrgLimits::admit`], in flight until dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a OrgLimits);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
