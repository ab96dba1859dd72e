//! Every edge of the guide's state diagram, on paused virtual time.

use std::time::Duration;

use resilience::{CallError, CircuitBreaker, CircuitState};
use tokio::time::advance;

fn breaker(name: &'static str) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .failure_threshold(3)
        .recovery_timeout(Duration::from_secs(60))
        .half_open_max_calls(2)
        .success_threshold(2)
        .ignore_env()
        .build()
        .unwrap()
}

fn fail(b: &CircuitBreaker) {
    b.try_acquire().expect("admitted").record_failure();
}

fn succeed(b: &CircuitBreaker) {
    b.try_acquire().expect("admitted").record_success();
}

/// Trips `b` (threshold 3) and waits out its recovery timeout.
async fn trip_and_wait(b: &CircuitBreaker) {
    for _ in 0..3 {
        fail(b);
    }
    assert_eq!(b.state(), CircuitState::Open);
    advance(Duration::from_secs(60)).await;
}

#[tokio::test(start_paused = true)]
async fn closed_opens_at_threshold_consecutive_failures() {
    let b = breaker("edge_closed_open");
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().failure_count, 2);
    fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().failure_count, 3);
}

#[tokio::test(start_paused = true)]
async fn a_success_clears_the_consecutive_count() {
    let b = breaker("edge_success_clears");
    fail(&b);
    fail(&b);
    succeed(&b);
    assert_eq!(b.metrics().failure_count, 0);
    fail(&b);
    fail(&b);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "2 consecutive failures, not 4"
    );
}

#[tokio::test(start_paused = true)]
async fn open_rejects_without_calling_until_recovery_timeout() {
    let b = breaker("edge_open_rejects");
    for _ in 0..3 {
        fail(&b);
    }
    advance(Duration::from_secs(20)).await;
    let mut called = false;
    let r = b
        .call(|| async {
            called = true;
            Ok::<_, ()>(())
        })
        .await;
    let err = r.unwrap_err();
    let rejection = err.as_rejected().expect("rejected, not failed");
    assert!(!called, "an open breaker must not call the operation");
    assert_eq!(rejection.circuit_name(), "edge_open_rejects");
    assert_eq!(rejection.retry_after(), Some(Duration::from_secs(40)));
    assert_eq!(b.metrics().time_until_retry, Some(Duration::from_secs(40)));

    advance(Duration::from_secs(39)).await;
    assert!(
        b.try_acquire().is_err(),
        "still open one second before the timeout"
    );
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn open_moves_to_half_open_on_the_first_call_after_the_timeout() {
    let b = breaker("edge_open_half_open");
    trip_and_wait(&b).await;
    // No timer task: the state only moves when a call comes.
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().time_until_retry, Some(Duration::ZERO));
    let permit = b.try_acquire().expect("a probe is admitted");
    assert_eq!(permit.admitted_in(), CircuitState::HalfOpen);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert_eq!(b.metrics().time_until_retry, None);
    drop(permit);
}

#[tokio::test(start_paused = true)]
async fn half_open_closes_after_success_threshold_successes() {
    let b = breaker("edge_half_open_closed");
    trip_and_wait(&b).await;
    succeed(&b);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert_eq!(b.metrics().success_count, 1);
    succeed(&b);
    assert_eq!(b.state(), CircuitState::Closed);
    let m = b.metrics();
    assert_eq!((m.failure_count, m.success_count, m.total_calls), (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn any_failure_in_half_open_reopens_for_a_full_timeout() {
    let b = breaker("edge_half_open_reopen");
    trip_and_wait(&b).await;
    succeed(&b);
    fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
    let err = b.try_acquire().unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    advance(Duration::from_secs(60)).await;
    assert!(b.try_acquire().is_ok());
    // The success before the reopening does not carry over into the new half-open period.
    assert_eq!(b.metrics().success_count, 0);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_at_most_half_open_max_calls_in_flight() {
    let b = breaker("edge_half_open_limit");
    trip_and_wait(&b).await;
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    let third = b.try_acquire().unwrap_err();
    assert_eq!(third.retry_after(), Some(Duration::ZERO));
    // A finished probe frees its slot.
    p1.record_success();
    let p3 = b.try_acquire().expect("a slot was freed");
    assert!(b.try_acquire().is_err());
    p2.record_success();
    assert_eq!(b.state(), CircuitState::Closed);
    // p3 was admitted in the half-open state that has ended: its result does not count.
    p3.record_failure();
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().failure_count, 0);
}

#[tokio::test(start_paused = true)]
async fn reset_force_open_and_disable() {
    let b = breaker("edge_manual");
    b.force_open();
    assert_eq!(b.state(), CircuitState::ForcedOpen);
    advance(Duration::from_secs(3600)).await;
    let err = b.try_acquire().unwrap_err();
    assert_eq!(
        err.retry_after(),
        None,
        "forced open has no scheduled recovery"
    );
    assert_eq!(b.metrics().time_until_retry, None);

    b.reset();
    assert_eq!(b.state(), CircuitState::Closed);
    succeed(&b);

    b.disable();
    for _ in 0..10 {
        fail(&b);
    }
    assert_eq!(
        b.state(),
        CircuitState::Disabled,
        "a disabled breaker never opens"
    );
    let m = b.metrics();
    assert_eq!(
        m.total_calls, 11,
        "but its calls still count in the metrics"
    );
    assert!((m.error_rate - 10.0 / 11.0).abs() < 1e-9);

    b.reset();
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(b.state(), CircuitState::Open);
    b.reset();
    assert_eq!(b.state(), CircuitState::Closed);
    assert!(b.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn try_half_open_skips_the_rest_of_the_timeout() {
    let b = breaker("edge_try_half_open");
    assert!(!b.try_half_open(), "only an open breaker moves");
    for _ in 0..3 {
        fail(&b);
    }
    advance(Duration::from_secs(5)).await;
    assert!(b.try_half_open());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert!(b.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_failure_predicate_decides_what_counts() {
    #[derive(Debug, PartialEq)]
    enum E {
        NotFound,
        Down,
    }
    let b = breaker("edge_predicate");
    for _ in 0..5 {
        let r = b
            .call_with(|e| *e == E::Down, || async { Err::<(), _>(E::NotFound) })
            .await;
        assert!(matches!(r, Err(CallError::Failed(E::NotFound))));
    }
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().error_rate, 0.0);
    for _ in 0..3 {
        let _ = b
            .call_with(|e| *e == E::Down, || async { Err::<(), _>(E::Down) })
            .await;
    }
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn failure_rate_rule_trips_over_the_window() {
    let b = CircuitBreaker::builder("edge_rate")
        .failure_threshold(100)
        .window_size(10)
        .minimum_calls(6)
        .failure_rate_threshold(0.5)
        .ignore_env()
        .build()
        .unwrap();
    // Alternating outcomes never make 100 consecutive failures.
    for i in 0..5 {
        if i % 2 == 0 {
            fail(&b);
        } else {
            succeed(&b);
        }
    }
    // 3 failures in 5 calls: above the rate but below minimum_calls.
    assert_eq!(b.state(), CircuitState::Closed);
    succeed(&b); // 3 of 6 = 0.5: the success that brings the window to its minimum trips it
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().failure_count, 3, "the failures in the window");
}

/// resilience4j's rule: the rate is checked whenever a recorded call, success or failure,
/// leaves the window at its minimum or beyond.
#[tokio::test(start_paused = true)]
async fn a_success_that_fills_the_window_to_its_minimum_trips_on_the_rate() {
    let b = CircuitBreaker::builder("edge_rate_on_success")
        .failure_threshold(100)
        .window_size(10)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .ignore_env()
        .build()
        .unwrap();
    fail(&b);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), CircuitState::Closed, "3 calls, minimum 4");
    succeed(&b); // F, F, F, S: 75 %
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().failure_count, 3);

    // Below the rate, successes keep it closed, and a window without failures is not checked.
    let b = CircuitBreaker::builder("edge_rate_below")
        .failure_threshold(100)
        .window_size(10)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .ignore_env()
        .build()
        .unwrap();
    fail(&b);
    for _ in 0..20 {
        succeed(&b);
    }
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().error_rate, 0.0);
}

#[tokio::test(start_paused = true)]
async fn the_window_slides_over_the_latest_calls() {
    let b = CircuitBreaker::builder("edge_window")
        .window_size(4)
        .minimum_calls(4)
        .failure_threshold(10)
        .ignore_env()
        .build()
        .unwrap();
    let m = b.metrics();
    assert_eq!(
        (m.total_calls, m.error_rate),
        (0, 0.0),
        "no calls: rate 0, not NaN"
    );
    fail(&b);
    fail(&b);
    for _ in 0..3 {
        succeed(&b);
    }
    // Window holds [F, S, S, S] after 5 calls: the first failure slid out.
    let m = b.metrics();
    assert_eq!(m.total_calls, 4);
    assert_eq!(m.error_rate, 0.25);
    for _ in 0..4 {
        succeed(&b);
    }
    assert_eq!(b.metrics().error_rate, 0.0);
}

#[tokio::test(start_paused = true)]
async fn last_failure_time_follows_the_clock() {
    let b = breaker("edge_last_failure");
    assert_eq!(b.metrics().last_failure_time, None);
    fail(&b);
    let first = b.metrics().last_failure_time.unwrap();
    advance(Duration::from_secs(10)).await;
    fail(&b);
    let second = b.metrics().last_failure_time.unwrap();
    assert_eq!(
        second.duration_since(first).unwrap(),
        Duration::from_secs(10)
    );
}

#[test]
fn states_have_the_guides_names_and_only_open_ones_refuse() {
    use CircuitState::*;
    let names: Vec<String> = [Closed, Open, HalfOpen, ForcedOpen, Disabled]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        names,
        ["closed", "open", "half_open", "forced_open", "disabled"]
    );
    let open: Vec<bool> = [Closed, Open, HalfOpen, ForcedOpen, Disabled]
        .map(CircuitState::is_open)
        .to_vec();
    assert_eq!(open, [false, true, false, true, false]);
}

#[test]
fn recovery_timeout_may_be_a_year_but_not_more() {
    let year = Duration::from_secs(365 * 24 * 3600);
    let build = |d| {
        CircuitBreaker::builder("edge_year")
            .recovery_timeout(d)
            .ignore_env()
            .build()
    };
    assert_eq!(build(year).unwrap().config().recovery_timeout, year);
    let err = build(year + Duration::from_secs(1)).unwrap_err();
    assert_eq!(err.input(), "recovery_timeout");
}

#[tokio::test(start_paused = true)]
async fn a_stale_probe_dropped_in_a_later_half_open_period_frees_no_slot() {
    let b = breaker("edge_stale_drop"); // half_open_max_calls 2
    trip_and_wait(&b).await;
    let stale = b.try_acquire().unwrap(); // a probe of the first half-open period
    fail(&b); // another probe fails: open again
    advance(Duration::from_secs(60)).await;
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err(), "two probes in flight");
    drop(stale); // belongs to the first period: must not free a slot of this one
    assert!(b.try_acquire().is_err(), "still two probes in flight");
    drop((p1, p2));
}

/// A full window of successes is not written by further successes; the window must still hold
/// exactly the latest calls when a failure comes, and let it go after `window_size` more.
#[test]
fn a_window_full_of_successes_still_slides_exactly() {
    let b = CircuitBreaker::builder("edge_window_slides")
        .failure_threshold(100)
        .window_size(20)
        .minimum_calls(20)
        .ignore_env()
        .build()
        .unwrap();
    // (calls in the window, failures among them)
    let rate = |b: &CircuitBreaker| {
        let m = b.metrics();
        (
            m.total_calls,
            (m.error_rate * f64::from(m.total_calls)).round() as u32,
        )
    };
    for _ in 0..50 {
        succeed(&b);
    }
    assert_eq!(rate(&b), (20, 0));
    fail(&b);
    assert_eq!(rate(&b), (20, 1));
    for _ in 0..19 {
        succeed(&b);
    }
    assert_eq!(
        rate(&b),
        (20, 1),
        "the failure is one of the latest 20 calls"
    );
    succeed(&b);
    assert_eq!(rate(&b), (20, 0), "the 21st call after it pushes it out");
    for n in 1..=3 {
        fail(&b);
        assert_eq!(rate(&b), (20, n));
    }
    for _ in 0..17 {
        succeed(&b);
    }
    assert_eq!(rate(&b), (20, 3));
    for left in [2, 1, 0] {
        succeed(&b);
        assert_eq!(rate(&b), (20, left));
    }
    // A reset empties it; the next calls fill it again from nothing.
    b.reset();
    assert_eq!(rate(&b), (0, 0));
    fail(&b);
    succeed(&b);
    assert_eq!(rate(&b), (2, 1));
}

#[test]
fn a_breaker_prints_its_name_state_and_configuration() {
    let b = breaker("edge_debug");
    b.force_open();
    let printed = format!("{b:?}");
    assert!(printed.starts_with("CircuitBreaker {"), "{printed}");
    for part in [
        "name: \"edge_debug\"",
        "state: ForcedOpen",
        "failure_threshold: 3",
        "recovery_timeout: 60s",
        "..",
    ] {
        assert!(printed.contains(part), "{part} not in {printed}");
    }
}

#[tokio::test]
async fn a_call_error_says_whether_the_operation_ran() {
    use std::error::Error as _;
    let b = CircuitBreaker::builder("edge_call_error")
        .failure_threshold(1)
        .ignore_env()
        .build()
        .unwrap();
    let failed = b
        .call(|| async { Err::<(), _>(std::io::Error::other("timeout")) })
        .await
        .unwrap_err();
    assert_eq!(failed.to_string(), "timeout");
    // Transparent: the operation's error is shown, and its own source (none) returned.
    assert!(failed.source().is_none());
    assert!(failed.as_rejected().is_none());
    assert_eq!(failed.into_failed().unwrap().to_string(), "timeout");

    let rejected = b
        .call(|| async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap_err();
    assert!(
        rejected
            .to_string()
            .starts_with("circuit 'edge_call_error' is open")
    );
    assert!(rejected.source().is_none());
    assert!(rejected.into_failed().is_none());
}
