//! A breaker that opened while tokio's clock ran, in a test that then pauses it: the metrics
//! and admission judge that open period on one clock, and agree. A rate limiter follows the
//! paused clock, whether it was built before the pause or after.
//!
//! `cargo test -p resilience-benches --features paused-clock --test paused_clock`: the build
//! users get (no `test-util` on `resilience`), with tokio's `test-util`, as a downstream crate's
//! tests have it.

use std::time::Duration;

use resilience::limit::RateLimiter;
use resilience::{CircuitBreaker, CircuitState};

const RECOVERY: Duration = Duration::from_secs(60);

fn tripped(name: &'static str) -> CircuitBreaker {
    let b = CircuitBreaker::builder(name)
        .ignore_env()
        .failure_threshold(1)
        .recovery_timeout(RECOVERY)
        .build()
        .expect("valid configuration");
    b.try_acquire().expect("closed").record_failure();
    assert_eq!(b.state(), CircuitState::Open);
    b
}

/// Whatever clock the open period is judged on, `time_until_retry` says "due" exactly when a
/// call is admitted, and otherwise matches the rejection's `retry_after`. Returns whether the
/// call was admitted.
fn assert_agree(b: &CircuitBreaker) -> bool {
    let until = b.metrics().time_until_retry.expect("open");
    match b.try_acquire() {
        Ok(permit) => {
            assert_eq!(
                until,
                Duration::ZERO,
                "admitted, yet the metrics wait {until:?}"
            );
            permit.record_success();
            true
        }
        Err(rejected) => {
            let wait = rejected.retry_after().expect("open, not forced");
            assert!(
                until > Duration::ZERO,
                "the metrics say due, the call waits {wait:?}"
            );
            assert!(
                until.abs_diff(wait) < Duration::from_millis(50),
                "metrics {until:?}, retry_after {wait:?}"
            );
            false
        }
    }
}

#[tokio::test]
async fn paused_after_opening_metrics_and_admission_agree() {
    let b = tripped("paused_after_opening");
    tokio::time::pause();
    tokio::time::advance(RECOVERY + Duration::from_secs(1)).await;
    // Without `test-util`, the period runs on in real time; with it (as `--all-features`
    // builds it), tokio's clock times every period and the call is admitted.
    if !assert_agree(&b) {
        tokio::time::advance(RECOVERY * 10).await;
        assert!(
            !assert_agree(&b),
            "virtual time ended a period timed in real time"
        );
    }
}

/// What a downstream test should do: pause before the breaker opens; virtual time then ends
/// the open period.
#[tokio::test(start_paused = true)]
async fn paused_before_opening_virtual_time_ends_the_period() {
    let b = tripped("paused_before_opening");
    tokio::time::advance(RECOVERY - Duration::from_secs(1)).await;
    assert!(!assert_agree(&b));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(b.metrics().time_until_retry, Some(Duration::ZERO));
    let permit = b.try_acquire().expect("due on the paused clock");
    assert_eq!(permit.admitted_in(), CircuitState::HalfOpen);
    permit.record_success();
}

fn one_a_minute(name: &'static str) -> RateLimiter {
    RateLimiter::builder(name, 1, Duration::from_secs(60))
        .burst(1)
        .ignore_env()
        .build()
        .expect("valid configuration")
}

/// Spends the one token, is refused for about a minute, and gets the next token once virtual
/// time has moved by that minute.
async fn refills_on_virtual_time(limiter: &RateLimiter) {
    limiter.try_acquire().expect("a full bucket");
    let wait = limiter
        .try_acquire()
        .expect_err("spent")
        .retry_after()
        .expect("a wait");
    // About a minute: the real time that passed since the runtime paused its clock counts on
    // the coarse clock, not on the paused one.
    assert!(
        wait > Duration::from_secs(59) && wait < Duration::from_secs(61),
        "{wait:?}"
    );
    tokio::time::advance(wait).await;
    limiter.try_acquire().expect("due on virtual time");
    assert!(limiter.try_acquire().is_err(), "one token a minute");
}

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_built_in_a_paused_test_follows_virtual_time() {
    refills_on_virtual_time(&one_a_minute("paused_rate_built_paused")).await;
}

#[test]
fn a_rate_limiter_built_before_the_pause_follows_virtual_time() {
    let limiter = one_a_minute("paused_rate_built_before");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(refills_on_virtual_time(&limiter));
}
