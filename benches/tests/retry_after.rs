//! A rejection's `retry_after` is never shorter than the time actually left: a caller that
//! sleeps exactly that long finds the breaker due, in the build users get (no `test-util`,
//! rejections far from the deadline read the coarse clock on Linux).
//!
//! `cargo test -p resilience-benches --test retry_after`. One test in its own process: it
//! chooses when the process-wide time anchor is taken, which no other test may do first.

use std::time::{Duration, Instant};

use resilience::{CircuitBreaker, CircuitState};

const RECOVERY: Duration = Duration::from_millis(100);

fn breaker(name: String) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .ignore_env()
        .failure_threshold(1)
        .half_open_max_calls(1)
        .success_threshold(1)
        .recovery_timeout(RECOVERY)
        .build()
        .expect("valid configuration")
}

/// The coarse clock's tick and a reading of it, where there is one.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod coarse {
    use rustix::time::{ClockId, Timespec, clock_getres, clock_gettime};

    fn nanos(t: Timespec) -> u64 {
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    }

    pub fn tick() -> u64 {
        nanos(clock_getres(ClockId::MonotonicCoarse))
    }

    pub fn now() -> u64 {
        nanos(clock_gettime(ClockId::MonotonicCoarse))
    }
}

/// Returns `fraction` of a tick after the coarse clock last ticked: the coarse clock then lags
/// the precise one by about that much.
fn at_phase(fraction: f64) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let tick = Duration::from_nanos(coarse::tick());
        let last = coarse::now();
        while coarse::now() == last {
            std::hint::spin_loop();
        }
        let ticked = Instant::now();
        while ticked.elapsed() < tick.mul_f64(fraction) {
            std::hint::spin_loop();
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = fraction;
}

#[test]
fn waiting_out_retry_after_always_finds_the_breaker_due() {
    // The anchor is taken by the first clock read of any breaker (a failure's timestamp):
    // late in a tick, where the coarse clock lags the most. Rejections then come at every
    // phase of the tick.
    at_phase(0.9);
    breaker("anchor".to_owned())
        .try_acquire()
        .expect("closed")
        .record_failure();
    let mut round = 0;
    for attempt in 0..40 {
        if round == 10 {
            break;
        }
        let b = breaker(format!("retry_after_{attempt}"));
        b.try_acquire().expect("closed").record_failure();
        let tripped = Instant::now();
        assert_eq!(b.state(), CircuitState::Open);
        at_phase(f64::from(round) / 10.0);
        let wait = match b.try_acquire() {
            Err(rejected) => rejected.retry_after().expect("open, not forced"),
            Ok(permit) => {
                // Only a machine too busy to run this thread for the whole timeout.
                assert!(tripped.elapsed() >= RECOVERY, "admitted while open");
                permit.record_success();
                continue;
            }
        };
        assert!(wait <= RECOVERY, "retry_after {wait:?} beyond the timeout");
        std::thread::sleep(wait);
        match b.try_acquire() {
            Ok(permit) => {
                assert_eq!(permit.admitted_in(), CircuitState::HalfOpen);
                permit.record_success();
            }
            Err(again) => panic!(
                "round {round}: rejected again after waiting retry_after {wait:?}, now {:?}",
                again.retry_after()
            ),
        }
        round += 1;
    }
    assert_eq!(round, 10, "too few rounds ran: the machine is too busy");
}
