//! The breaker as built for production (no `test-util`): on Linux, failures and rejections
//! while open read the kernel's coarse clock, and the precise clock decides the last stretch
//! before the recovery deadline. An open period must never end early, and must end.
//!
//! `cargo test -p resilience-benches --test coarse_clock`. Run on its own (not with
//! `--workspace --all-features`, which turns `test-util` on and every read precise), it tests
//! the coarse path; the properties checked hold for both.

use std::time::{Duration, Instant, SystemTime};

use resilience::{CircuitBreaker, CircuitState};

const RECOVERY: Duration = Duration::from_millis(80);

fn tripped(name: String) -> (CircuitBreaker, Instant) {
    let breaker = CircuitBreaker::builder(name)
        .ignore_env()
        .failure_threshold(1)
        .half_open_max_calls(1)
        .success_threshold(1)
        .recovery_timeout(RECOVERY)
        .build()
        .expect("valid configuration");
    let before = Instant::now();
    breaker.try_acquire().expect("closed").record_failure();
    assert_eq!(breaker.state(), CircuitState::Open);
    (breaker, before)
}

#[test]
fn an_open_period_ends_at_its_deadline_never_before() {
    for round in 0..3 {
        let (breaker, tripped_at) = tripped(format!("coarse_deadline_{round}"));
        let mut rejections = 0u64;
        let admitted_at = loop {
            match breaker.try_acquire() {
                Ok(permit) => {
                    let at = Instant::now();
                    assert_eq!(permit.admitted_in(), CircuitState::HalfOpen);
                    permit.record_success();
                    break at;
                }
                Err(rejected) => {
                    rejections += 1;
                    let wait = rejected.retry_after().expect("open, not forced");
                    assert!(wait <= RECOVERY, "retry_after {wait:?} beyond the timeout");
                    assert!(
                        tripped_at.elapsed() < RECOVERY + Duration::from_secs(5),
                        "still open 5 s after the deadline"
                    );
                    std::thread::yield_now();
                }
            }
        };
        let open_for = admitted_at - tripped_at;
        assert!(
            open_for >= RECOVERY,
            "admitted after {open_for:?}, before {RECOVERY:?}"
        );
        assert!(rejections > 0);
        assert_eq!(breaker.state(), CircuitState::Closed);
    }
}

#[test]
fn retry_after_counts_down_with_the_clock() {
    let (breaker, tripped_at) = tripped("coarse_retry_after".to_owned());
    let first = breaker.try_acquire().err().and_then(|e| e.retry_after());
    let first = first.expect("open");
    // Within a coarse tick (at most 10 ms) of the real remaining time.
    let remaining = RECOVERY.saturating_sub(tripped_at.elapsed());
    let tick = Duration::from_millis(10);
    assert!(first <= remaining + tick, "{first:?} vs {remaining:?}");
    std::thread::sleep(Duration::from_millis(30));
    let later = breaker.try_acquire().err().and_then(|e| e.retry_after());
    assert!(later.expect("still open") < first);
}

#[test]
fn last_failure_time_is_the_wall_clock_to_a_tick() {
    let breaker = CircuitBreaker::builder("coarse_last_failure")
        .ignore_env()
        .build()
        .expect("valid configuration");
    std::thread::sleep(Duration::from_millis(25));
    let before = SystemTime::now();
    breaker.try_acquire().expect("closed").record_failure();
    let after = SystemTime::now();
    let stamped = breaker.metrics().last_failure_time.expect("a failure");
    let tick = Duration::from_millis(20);
    assert!(
        stamped + tick >= before,
        "{stamped:?} long before {before:?}"
    );
    assert!(stamped <= after + tick, "{stamped:?} long after {after:?}");
}

/// Far from the deadline, a rejection reads the coarse clock, which moves once a tick (1 to
/// 10 ms): two rejections a few nanoseconds apart see the same time and report the same wait.
/// On the precise clock they never would. Ignored in a build with `test-util` (every read is
/// then tokio's, as `--all-features` builds it); `.ci/run` runs it in the build users get.
#[test]
#[ignore = "needs the build without test-util: cargo test -p resilience-benches --test coarse_clock -- --include-ignored"]
fn rejections_far_from_the_deadline_read_the_coarse_clock() {
    if !cfg!(any(target_os = "linux", target_os = "android")) {
        return; // the coarse clock is used on Linux and Android only
    }
    let breaker = CircuitBreaker::builder("coarse_rejections")
        .ignore_env()
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(60))
        .build()
        .expect("valid configuration");
    breaker.try_acquire().expect("closed").record_failure();
    let wait = || breaker.try_acquire().err().and_then(|e| e.retry_after());
    let same = (0..100).filter(|_| wait() == wait()).count();
    assert!(same >= 90, "{same} pairs of 100 saw the same time");
    let first = wait().expect("open");
    assert!(first <= Duration::from_secs(60) && first > Duration::from_secs(59));
}
