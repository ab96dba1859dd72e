//! The burst: after the four phases, many requests at once against the organisation's limits.
//!
//! Every tier answers, a little late ([`FaultMode::Busy`]), and [`ScenarioConfig::burst`]
//! requests start together. Without limits of its own the client would send them all at once
//! and Zoho would answer most with 429 `TOO_MANY_REQUESTS`. With the bulkhead `zoho_org` and
//! the rate limiter `zoho_credits` on its methods (see [`client`](super::client)), the client
//! queues what the org's concurrency cannot take yet and sheds what its credits cannot pay for,
//! before Zoho ever refuses: the [`BurstReport`] counts the 429s, and there are none.
//!
//! [`ScenarioConfig::burst`]: super::ScenarioConfig::burst

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::client::ZohoClient;
use super::org::OrgLimits;
use super::server::FaultMode;

/// The bulkhead on the client's methods: the org's concurrency.
pub const BULKHEAD: &str = "zoho_org";

/// The rate limiter on the client's methods: the org's credits.
pub const RATE_LIMITER: &str = "zoho_credits";

/// The mode of every tier during the burst.
pub const MODE: FaultMode = FaultMode::Busy;

/// What the burst came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BurstReport {
    /// Requests started together.
    pub issued: usize,
    /// Requests a tier served.
    pub served: usize,
    /// Requests the client's own limits refused on every tier: shed before Zoho saw them.
    pub shed: usize,
    /// Requests that failed otherwise (a tier's error): not expected while every tier answers.
    pub failed: usize,
    /// The most calls that waited at once in the client's bulkhead for a slot.
    pub peak_queued: u32,
    /// The most calls the organisation had in flight at once, as Zoho counts them: never above
    /// its concurrency.
    pub peak_in_flight: u32,
    /// Calls Zoho answered 429 `TOO_MANY_REQUESTS` over the whole run: 0.
    pub too_many_requests: u64,
    /// Calls the client's bulkhead refused after waiting `max_wait`.
    pub bulkhead_refused: u64,
    /// Calls the client's rate limiter refused.
    pub rate_limiter_refused: u64,
    /// How long the burst took, from the first request to the last answer.
    #[serde(serialize_with = "super::report::secs")]
    pub duration: Duration,
}

impl BurstReport {
    /// Requests answered: served, shed or failed. Equal to `issued` when none was lost.
    pub fn answered(&self) -> usize {
        self.served + self.shed + self.failed
    }
}

/// Starts `requests` requests together through `client` and waits for all of them, watching
/// the client's bulkhead queue meanwhile. The tiers should be [`MODE`].
pub async fn run(client: &Arc<ZohoClient>, org: &OrgLimits, requests: usize) -> BurstReport {
    let registry = resilience::registry();
    let refused_before = refusals();
    let started = Instant::now();
    let mut calls = JoinSet::new();
    for n in 0..requests {
        let client = Arc::clone(client);
        calls.spawn(async move { client.get_account(&format!("BURST-{n:04}")).await });
    }
    let mut report = BurstReport {
        issued: requests,
        ..BurstReport::default()
    };
    let mut watch = tokio::time::interval(Duration::from_millis(5));
    watch.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            joined = calls.join_next() => match joined {
                None => break,
                Some(Ok(Ok(_))) => report.served += 1,
                Some(Ok(Err(e))) if e.is_shed() => report.shed += 1,
                // A failed tier, or a request task that panicked: counted, never lost.
                Some(_) => report.failed += 1,
            },
            _ = watch.tick() => {
                let queued = registry.bulkhead(BULKHEAD).map_or(0, |b| b.metrics().waiting);
                report.peak_queued = report.peak_queued.max(queued);
            }
        }
    }
    let refused_after = refusals();
    report.duration = started.elapsed();
    report.peak_in_flight = org.peak_concurrency();
    report.too_many_requests = org.too_many_requests();
    report.bulkhead_refused = refused_after.0 - refused_before.0;
    report.rate_limiter_refused = refused_after.1 - refused_before.1;
    report
}

/// The refusals of the client's bulkhead and rate limiter so far.
fn refusals() -> (u64, u64) {
    let registry = resilience::registry();
    (
        registry
            .bulkhead(BULKHEAD)
            .map_or(0, |b| b.metrics().refused),
        registry
            .rate_limiter(RATE_LIMITER)
            .map_or(0, |l| l.metrics().refused),
    )
}
