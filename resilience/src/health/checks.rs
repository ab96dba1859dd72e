//! The checks themselves: the background task's rounds, each check on a task of its own with
//! its timeout, and the record of each outcome.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Arc, PoisonError};
use std::task::Poll;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::{Instant, MissedTickBehavior};

use super::TierHealth;
use super::monitor::{Inner, Tier};
use crate::events;
use crate::registry::CircuitBreakerManager;

/// The background task: a round at every tick until told to stop.
pub(super) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<()>) {
    let mut ticks = tokio::time::interval(inner.check_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if until_stopped(&mut stop, ticks.tick()).await.is_none()
            || until_stopped(&mut stop, inner.check_all()).await.is_none()
        {
            return;
        }
    }
}

/// Runs `fut` unless the stop signal comes first (then `fut` is dropped: checks in flight are
/// aborted).
async fn until_stopped<F: Future>(stop: &mut watch::Receiver<()>, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    // The sender is never used to send: it is dropped to stop, which ends `changed()`.
    let mut stopped = pin!(stop.changed());
    poll_fn(|cx| {
        if stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        fut.as_mut().poll(cx).map(Some)
    })
    .await
}

/// A check running on its own task; the task is aborted if this is dropped first.
struct Run {
    tier: usize,
    started: Instant,
    handle: JoinHandle<Result<(), String>>,
}

impl Drop for Run {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl Inner {
    fn manager(&self) -> &CircuitBreakerManager {
        &self.manager
    }

    pub(super) fn health_of(&self, tier: &Tier) -> TierHealth {
        let breaker_state = self.manager().get(&tier.name).map(|b| b.state());
        let record = tier.record.lock().unwrap_or_else(PoisonError::into_inner);
        TierHealth {
            healthy: record.healthy,
            last_check: record.last_check,
            latency: record.latency,
            consecutive_failures: record.consecutive_failures,
            last_error: record.last_error.clone(),
            breaker_state,
        }
    }

    pub(super) async fn check_all(&self) {
        let all: Vec<usize> = (0..self.tiers.len()).collect();
        self.check(&all).await;
    }

    /// Checks the tiers at `indices` concurrently, each on its own task, and records each
    /// outcome as soon as it is in.
    pub(super) async fn check(&self, indices: &[usize]) {
        let timeout = self.timeout;
        let mut runs: Vec<Option<Run>> = indices
            .iter()
            .map(|&tier| {
                let check = Arc::clone(&self.tiers[tier].check);
                let started = Instant::now();
                let handle = tokio::spawn(async move {
                    // The check is called on its task, so that a panic in the call is caught too.
                    match tokio::time::timeout(timeout, check()).await {
                        Ok(outcome) => outcome,
                        Err(_) => Err(format!(
                            "timed out after {}",
                            humantime::format_duration(timeout)
                        )),
                    }
                });
                Some(Run {
                    tier,
                    started,
                    handle,
                })
            })
            .collect();
        poll_fn(|cx| {
            let mut pending = false;
            for slot in &mut runs {
                let Some(run) = slot else { continue };
                match Pin::new(&mut run.handle).poll(cx) {
                    Poll::Ready(joined) => {
                        let latency = run.started.elapsed();
                        self.record(&self.tiers[run.tier], outcome_of(joined), latency);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
    }

    fn record(&self, tier: &Tier, outcome: Result<(), String>, latency: Duration) {
        let now = SystemTime::now();
        let mut record = tier.record.lock().unwrap_or_else(PoisonError::into_inner);
        let was_failing = record.last_check.is_some() && !record.healthy;
        record.last_check = Some(now);
        record.latency = Some(latency);
        match outcome {
            Ok(()) => {
                record.healthy = true;
                record.consecutive_failures = 0;
                record.last_error = None;
                drop(record);
                events::health_check_passed(&tier.name, was_failing);
                if self.probe_breakers {
                    if let Some(breaker) = self.manager().get(&tier.name) {
                        breaker.try_half_open();
                    }
                }
            }
            Err(error) => {
                record.healthy = false;
                record.consecutive_failures = record.consecutive_failures.saturating_add(1);
                let consecutive_failures = record.consecutive_failures;
                record.last_error = Some(error.clone());
                drop(record);
                events::health_check_failed(&tier.name, &error, consecutive_failures);
            }
        }
    }
}

/// The outcome of a check's task: its own, or the panic (or cancellation) that ended it.
fn outcome_of(joined: Result<Result<(), String>, JoinError>) -> Result<(), String> {
    match joined {
        Ok(outcome) => outcome,
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("Box<dyn Any>");
            Err(format!("check panicked: {message}"))
        }
        Err(_) => Err("check cancelled".to_owned()),
    }
}
