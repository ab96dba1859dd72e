//! The rate limiter as built for production (no `test-util`): on Linux an admission reads the
//! kernel's coarse clock, which runs behind the precise one by less than a tick, and every
//! refusal is decided on the precise clock. A refusal's `retry_after` must always be enough,
//! and a token is never handed out earlier than the coarse clock's lag allows.
//!
//! `cargo test -p resilience-benches --test rate_limiter_clock`. Run on its own (not with
//! `--workspace --all-features`, which turns `test-util` on and every read precise), it tests
//! the coarse path; the properties checked hold for both.

use std::time::{Duration, Instant};

use resilience::limit::RateLimiter;

/// One token every `interval`, none saved up beyond one.
fn one_every(interval: Duration, name: &'static str) -> RateLimiter {
    RateLimiter::builder(name, 1, interval)
        .burst(1)
        .ignore_env()
        .build()
        .expect("valid configuration")
}

/// The kernel's coarse clock's tick. The coarse clock runs behind by less than one, or a little
/// more while the kernel's tick is delayed (a busy VM): two are allowed.
fn tick() -> Duration {
    let tick = rustix::time::clock_getres(rustix::time::ClockId::MonotonicCoarse);
    Duration::new(tick.tv_sec as u64, tick.tv_nsec as u32)
}

#[test]
fn waiting_a_refusals_retry_after_always_finds_the_token_due() {
    let limiter = one_every(Duration::from_millis(20), "clock_retry_after");
    for _ in 0..25 {
        // Spend the token (waiting for it if the last round's is not due yet).
        loop {
            match limiter.try_acquire() {
                Ok(()) => break,
                Err(refused) => std::thread::sleep(refused.retry_after().expect("a wait")),
            }
        }
        let refused = limiter.try_acquire().expect_err("the only token is spent");
        let wait = refused.retry_after().expect("a wait");
        assert!(wait <= Duration::from_millis(20), "{wait:?}");
        std::thread::sleep(wait);
        assert!(
            limiter.try_acquire().is_ok(),
            "refused again after waiting its retry_after ({wait:?})"
        );
    }
}

#[test]
fn a_token_is_never_handed_out_earlier_than_the_coarse_clocks_lag() {
    let interval = Duration::from_millis(40);
    let limiter = one_every(interval, "clock_early");
    let lag = 2 * tick();
    // When the previous admission began: an admission happens between the reading before
    // its call and the one after it, so `after - previous` is the longest the two admissions
    // can have been apart. A preemption only lengthens it: the check fails only when tokens
    // really came too close together, however loaded the machine.
    let mut previous = None::<Instant>;
    let mut admitted = 0;
    let started = Instant::now();
    // About 25 admissions, checking in a tight loop: the earliest moments a token is handed out.
    while admitted < 25 && started.elapsed() < Duration::from_secs(10) {
        let before = Instant::now();
        if limiter.try_acquire().is_ok() {
            let after = Instant::now();
            if let Some(previous) = previous {
                let apart = after.duration_since(previous);
                assert!(
                    apart + lag >= interval,
                    "two tokens at most {apart:?} apart, one every {interval:?} (lag {lag:?})"
                );
            }
            previous = Some(before);
            admitted += 1;
        } else {
            std::hint::spin_loop();
        }
    }
    assert_eq!(admitted, 25, "a token every 40 ms for 10 s");
}
