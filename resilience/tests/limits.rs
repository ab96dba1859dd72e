//! The limits on their own: bulkhead, rate limiter and timeout, on virtual time, with
//! cancellation and under concurrency.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience::limit::{Bulkhead, RateLimiter, Timeout};
use tokio::time::{Instant, advance, sleep};

/// Polls a future once, without a runtime's waker.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::pin::Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

// ---------------------------------------------------------------------------------------------
// Bulkhead
// ---------------------------------------------------------------------------------------------

fn bulkhead(max: u32, max_wait: Duration) -> Bulkhead {
    Bulkhead::builder("test_org")
        .max_concurrent(max)
        .max_wait(max_wait)
        .build()
        .unwrap()
}

#[test]
fn a_full_bulkhead_refuses_at_once_and_a_dropped_permit_frees_its_slot() {
    let org = bulkhead(2, Duration::ZERO);
    let a = org.try_acquire().unwrap();
    let b = org.try_acquire().unwrap();
    let refused = org.try_acquire().unwrap_err();
    assert_eq!(refused.bulkhead_name(), "test_org");
    assert_eq!(refused.max_concurrent(), 2);
    assert_eq!(
        refused.to_string(),
        "bulkhead 'test_org' is full: all 2 slot(s) taken"
    );
    let m = org.metrics();
    assert_eq!((m.in_flight, m.waiting, m.refused), (2, 0, 1));
    drop(a);
    assert_eq!(org.metrics().in_flight, 1);
    let c = org.try_acquire().unwrap();
    drop((b, c));
    assert_eq!(org.metrics().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_arrival_order() {
    let org = Arc::new(bulkhead(1, Duration::from_secs(10)));
    let holder = org.try_acquire_owned().unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (org, order) = (Arc::clone(&org), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            let _slot = org.acquire().await.unwrap();
            order.lock().unwrap().push(i);
            sleep(Duration::from_millis(100)).await;
        }));
        // Let each task queue before the next one starts.
        tokio::task::yield_now().await;
    }
    assert_eq!(org.metrics().waiting, 4);
    // A newcomer does not jump the queue, even with max_wait zero semantics of try_acquire.
    assert!(org.try_acquire().is_err());
    drop(holder);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    let m = org.metrics();
    assert_eq!((m.in_flight, m.waiting), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_is_refused_once_max_wait_has_passed() {
    let org = bulkhead(1, Duration::from_secs(2));
    let _holder = org.try_acquire().unwrap();
    let started = Instant::now();
    let refused = org.acquire().await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(refused.bulkhead_name(), "test_org");
    let m = org.metrics();
    assert_eq!((m.in_flight, m.waiting, m.refused), (1, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_is_served_when_a_slot_frees_before_max_wait() {
    let org = Arc::new(bulkhead(1, Duration::from_secs(2)));
    let holder = org.try_acquire_owned().unwrap();
    let waiter = tokio::spawn({
        let org = Arc::clone(&org);
        async move { org.acquire_owned().await.map(drop) }
    });
    sleep(Duration::from_millis(1500)).await;
    drop(holder);
    waiter.await.unwrap().unwrap();
    assert_eq!(org.metrics().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_while_queued_leaves_the_queue() {
    let org = bulkhead(1, Duration::from_secs(10));
    let holder = org.try_acquire().unwrap();
    {
        let mut waiting = pin!(org.acquire());
        assert!(poll_once(&mut waiting).is_pending());
        assert_eq!(org.metrics().waiting, 1);
    }
    assert_eq!(org.metrics().waiting, 0);
    drop(holder);
    let m = org.metrics();
    assert_eq!((m.in_flight, m.waiting), (0, 0));
    assert!(org.try_acquire().is_ok());
}

/// The race the slow path's lock is for: a slot handed to a waiter that is dropped before it
/// runs must reach the next waiter, or come back, and never be lost.
#[tokio::test(start_paused = true)]
async fn a_slot_handed_to_a_dropped_waiter_passes_to_the_next() {
    let org = bulkhead(1, Duration::from_secs(10));
    let holder = org.try_acquire().unwrap();
    let mut first = Box::pin(org.acquire());
    let mut second = Box::pin(org.acquire());
    assert!(poll_once(&mut first).is_pending());
    assert!(poll_once(&mut second).is_pending());
    drop(holder); // handed to `first`, which has not run since
    assert_eq!(org.metrics().waiting, 1);
    drop(first);
    let slot = match poll_once(&mut second) {
        Poll::Ready(slot) => slot.unwrap(),
        Poll::Pending => panic!("the slot handed to the dropped waiter was lost"),
    };
    assert_eq!(org.metrics().in_flight, 1);
    drop(slot);
    drop(second);
    let m = org.metrics();
    assert_eq!((m.in_flight, m.waiting), (0, 0));

    // The same with nobody left to pass it to: the slot comes back.
    let holder = org.try_acquire().unwrap();
    let mut only = Box::pin(org.acquire());
    assert!(poll_once(&mut only).is_pending());
    drop(holder);
    drop(only);
    let m = org.metrics();
    assert_eq!((m.in_flight, m.waiting), (0, 0));
    // Nothing of that hand-over is left behind for a later waiter to take for a slot.
    let holder = org.try_acquire().unwrap();
    let mut later = Box::pin(org.acquire());
    assert!(
        poll_once(&mut later).is_pending(),
        "served from a stale hand-over"
    );
    drop(later);
    drop(holder);
    assert_eq!(org.metrics().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_panics_or_is_aborted_frees_its_slot() {
    let org = Arc::new(bulkhead(1, Duration::ZERO));
    let panicking = tokio::spawn({
        let org = Arc::clone(&org);
        async move {
            org.run(async { panic!("the call panics") }).await.unwrap();
        }
    });
    assert!(panicking.await.unwrap_err().is_panic());
    assert_eq!(org.metrics().in_flight, 0);

    let aborted = tokio::spawn({
        let org = Arc::clone(&org);
        async move { org.run(sleep(Duration::from_secs(60))).await }
    });
    tokio::task::yield_now().await;
    assert_eq!(org.metrics().in_flight, 1);
    aborted.abort();
    assert!(aborted.await.unwrap_err().is_cancelled());
    assert_eq!(org.metrics().in_flight, 0);
}

#[test]
fn a_refused_call_is_not_run() {
    let org = bulkhead(1, Duration::ZERO);
    let _holder = org.try_acquire().unwrap();
    let ran = AtomicBool::new(false);
    let mut call = Box::pin(org.run(async { ran.store(true, Ordering::Relaxed) }));
    assert!(matches!(poll_once(&mut call), Poll::Ready(Err(_))));
    assert!(!ran.load(Ordering::Relaxed));
}

#[test]
fn unworkable_bulkhead_settings_are_errors_naming_the_setting_and_value() {
    let err = |b: resilience::limit::BulkheadBuilder| b.build().unwrap_err().to_string();
    assert_eq!(
        err(Bulkhead::builder("org").max_concurrent(0)),
        "invalid max_concurrent = 0 for bulkhead 'org': must be at least 1"
    );
    assert_eq!(
        err(Bulkhead::builder("org").max_concurrent(1_000_001)),
        "invalid max_concurrent = 1000001 for bulkhead 'org': must be at most 1000000"
    );
    assert_eq!(
        err(Bulkhead::builder("org").max_wait(Duration::from_secs(366 * 24 * 3600))),
        "invalid max_wait = 31622400s for bulkhead 'org': must be at most 365 days"
    );
    assert!(err(Bulkhead::builder("zoho org")).starts_with("invalid name = \"zoho org\""));
}

/// Counts a call inside the bulkhead until it ends or is dropped.
struct Inside<'a>(&'a AtomicU32);

impl<'a> Inside<'a> {
    fn enter(inside: &'a AtomicU32, most: &AtomicU32) -> Self {
        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(now, Ordering::SeqCst);
        Inside(inside)
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Many threads, short calls, waits that run out and calls dropped while they wait: never more
/// than `max_concurrent` calls inside at once, and every slot back at the end.
#[test]
fn never_more_than_max_concurrent_in_flight_under_contention() {
    const MAX: u32 = 3;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    let org = Arc::new(bulkhead(MAX, Duration::from_millis(2)));
    let inside = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let served = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..16u64 {
            let (org, inside, most, served) = (
                Arc::clone(&org),
                Arc::clone(&inside),
                Arc::clone(&most),
                Arc::clone(&served),
            );
            tasks.push(tokio::spawn(async move {
                for i in 0..1000u64 {
                    let call = org.run(async {
                        let _inside = Inside::enter(&inside, &most);
                        tokio::task::yield_now().await;
                    });
                    if (task + i) % 7 == 0 {
                        // Dropped while it waits, or while it runs.
                        let _ = tokio::time::timeout(Duration::from_micros(50), call).await;
                    } else if call.await.is_ok() {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert!(
        most.load(Ordering::SeqCst) <= MAX,
        "{} inside at once",
        most.load(Ordering::SeqCst)
    );
    assert!(served.load(Ordering::Relaxed) > 0);
    let m = org.metrics();
    assert_eq!((m.in_flight, m.waiting), (0, 0), "{m:?}");
}

// ---------------------------------------------------------------------------------------------
// Rate limiter
// ---------------------------------------------------------------------------------------------

fn limiter(rate: u64, per: Duration, burst: u32, max_wait: Duration) -> RateLimiter {
    RateLimiter::builder("test_credits", rate, per)
        .burst(burst)
        .max_wait(max_wait)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_burst_passes_then_each_token_comes_back_after_its_interval() {
    let credits = limiter(10, Duration::from_secs(1), 3, Duration::ZERO);
    assert_eq!(credits.metrics().tokens_left, 3);
    for _ in 0..3 {
        credits.try_acquire().unwrap();
    }
    let refused = credits.try_acquire().unwrap_err();
    assert_eq!(refused.limiter_name(), "test_credits");
    assert_eq!(refused.retry_after(), Some(Duration::from_millis(100)));
    assert_eq!(
        refused.to_string(),
        "rate limit 'test_credits' reached; retry after 0.100s"
    );
    // Waiting exactly retry_after is enough.
    advance(refused.retry_after().unwrap()).await;
    credits.try_acquire().unwrap();
    assert!(credits.try_acquire().is_err());
    let m = credits.metrics();
    assert_eq!((m.tokens_left, m.refused), (0, 2));
}

#[tokio::test(start_paused = true)]
async fn a_call_weighs_its_cost_and_a_cost_above_the_burst_can_never_pass() {
    let credits = limiter(100, Duration::from_secs(100), 10, Duration::ZERO);
    credits.try_acquire_n(7).unwrap();
    assert_eq!(credits.metrics().tokens_left, 3);
    let refused = credits.try_acquire_n(5).unwrap_err();
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(2)));
    credits.try_acquire_n(3).unwrap();
    let never = credits.try_acquire_n(11).unwrap_err();
    assert_eq!(never.retry_after(), None);
    assert!(
        never
            .to_string()
            .contains("costs more than its whole burst")
    );
}

/// Over a long run of callers hammering it, the limiter admits the rate, no more (the burst
/// aside) and no less.
#[tokio::test(start_paused = true)]
async fn over_many_periods_the_rate_holds_exactly() {
    let credits = limiter(50, Duration::from_secs(1), 5, Duration::ZERO);
    let mut admitted = 0u64;
    // 20 s in steps of 7 ms, five tries each step.
    for _ in 0..(20_000 / 7) {
        for _ in 0..5 {
            if credits.try_acquire().is_ok() {
                admitted += 1;
            }
        }
        advance(Duration::from_millis(7)).await;
    }
    let elapsed_tokens = 50 * 20_000 / 1000 * 7 / 7; // 50 per second for ~20 s
    assert!(admitted <= elapsed_tokens + 5, "{admitted}");
    assert!(admitted >= elapsed_tokens - 5, "{admitted}");
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_may_wait_is_served_when_its_tokens_are_due() {
    let credits = Arc::new(limiter(
        10,
        Duration::from_secs(1),
        1,
        Duration::from_millis(250),
    ));
    credits.try_acquire().unwrap();
    let started = Instant::now();
    credits.acquire_n(1).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    // Three callers at once: the first two reserve in order, 100 ms and 200 ms from now; the
    // third would wait 300 ms, more than max_wait, and is refused at once.
    let spawn = || {
        let c = Arc::clone(&credits);
        tokio::spawn(async move { c.acquire_n(1).await.map(|()| Instant::now()) })
    };
    let (a, b, c) = (spawn(), spawn(), spawn());
    let (a, b, c) = (a.await.unwrap(), b.await.unwrap(), c.await.unwrap());
    assert_eq!(a.unwrap() - started, Duration::from_millis(200));
    assert_eq!(b.unwrap() - started, Duration::from_millis(300));
    assert_eq!(
        c.unwrap_err().retry_after(),
        Some(Duration::from_millis(300))
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiting_caller_dropped_gives_its_tokens_back() {
    let credits = limiter(10, Duration::from_secs(1), 1, Duration::from_secs(1));
    credits.try_acquire().unwrap();
    {
        let mut waiting = Box::pin(credits.acquire_n(1));
        assert!(poll_once(&mut waiting).is_pending());
        // Its token is reserved: a newcomer would now wait 200 ms.
        assert_eq!(
            credits.try_acquire().unwrap_err().retry_after(),
            Some(Duration::from_millis(200))
        );
    }
    // Dropped: back to 100 ms.
    assert_eq!(
        credits.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_millis(100))
    );
}

#[test]
fn unworkable_rate_limiter_settings_are_errors_naming_the_setting_and_value() {
    let err = |b: resilience::limit::RateLimiterBuilder| b.build().unwrap_err().to_string();
    let day = Duration::from_secs(24 * 3600);
    assert_eq!(
        err(RateLimiter::builder("credits", 0, day)),
        "invalid rate = 0 for rate limiter 'credits': must be at least 1"
    );
    assert_eq!(
        err(RateLimiter::builder("credits", 1, Duration::ZERO)),
        "invalid per = 0ns for rate limiter 'credits': must be greater than zero and at most 365 days"
    );
    assert_eq!(
        err(RateLimiter::builder("credits", 100, day).burst(0)),
        "invalid burst = 0 for rate limiter 'credits': must be from 1 to 1000000000"
    );
    assert!(
        err(RateLimiter::builder(
            "credits",
            2_000_000_000,
            Duration::from_secs(1)
        ))
        .contains("must be at most one per nanosecond")
    );
    assert!(
        err(RateLimiter::builder("credits", 1, Duration::from_secs(365 * 24 * 3600)).burst(101))
            .contains("more than 100 years to refill")
    );
    // The default burst is the rate.
    let credits = RateLimiter::builder("credits", 100_000, day)
        .build()
        .unwrap();
    assert_eq!(credits.config().burst, 100_000);
}

/// Threads racing on one limiter whose time stands still (one token an hour): exactly the
/// burst is admitted.
#[test]
fn racing_threads_take_exactly_the_burst() {
    let credits = limiter(1, Duration::from_secs(3600), 1000, Duration::ZERO);
    let admitted = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    if credits.try_acquire().is_ok() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.load(Ordering::Relaxed), 1000);
    assert_eq!(credits.metrics().refused, 3000);
}

// ---------------------------------------------------------------------------------------------
// Timeout
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_call_within_its_time_limit_returns_its_output() {
    let timeout = Timeout::new(Duration::from_secs(5)).unwrap();
    let answer = timeout
        .run(async {
            sleep(Duration::from_secs(4)).await;
            42
        })
        .await;
    assert_eq!(answer.unwrap(), 42);
}

#[tokio::test(start_paused = true)]
async fn a_call_past_its_time_limit_is_dropped_and_fails() {
    struct Dropped(Arc<AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let timeout = Timeout::new(Duration::from_secs(5)).unwrap();
    let started = Instant::now();
    let guard = Dropped(Arc::clone(&dropped));
    let err = timeout
        .run(async move {
            let _guard = guard;
            sleep(Duration::from_secs(60)).await;
        })
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(dropped.load(Ordering::Relaxed));
    assert_eq!(err.after(), Duration::from_secs(5));
    assert_eq!(err.to_string(), "timed out after 5.000s");
    let as_error: resilience::Error = err.into();
    assert!(matches!(as_error, resilience::Error::Timeout(_)));
}

#[test]
fn a_time_limit_of_zero_or_beyond_a_year_is_an_error() {
    assert_eq!(
        Timeout::new(Duration::ZERO).unwrap_err().to_string(),
        "invalid timeout = 0ns: must be greater than zero and at most 365 days"
    );
    assert!(Timeout::new(Duration::from_secs(366 * 24 * 3600)).is_err());
}

// ---------------------------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------------------------

/// A lookup over fixed pairs.
fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn a_bulkheads_variables_beat_the_code_and_a_bad_one_is_ignored_alone() {
    let org = Bulkhead::builder("zoho_org")
        .max_concurrent(15)
        .build_with_env(env(&[
            ("BULKHEAD_ZOHO_ORG_MAX_CONCURRENT", "20"),
            ("BULKHEAD_ZOHO_ORG_MAX_WAIT", "2s"),
        ]))
        .unwrap();
    assert_eq!(org.config().max_concurrent, 20);
    assert_eq!(org.config().max_wait, Duration::from_secs(2));

    let org = Bulkhead::builder("zoho_org")
        .max_concurrent(15)
        .build_with_env(env(&[
            ("BULKHEAD_ZOHO_ORG_MAX_CONCURRENT", "0"),
            ("BULKHEAD_ZOHO_ORG_MAX_WAIT", "500ms"),
        ]))
        .unwrap();
    assert_eq!(
        org.config().max_concurrent,
        15,
        "the bad variable is ignored"
    );
    assert_eq!(
        org.config().max_wait,
        Duration::from_millis(500),
        "the good one applies"
    );

    let org = Bulkhead::builder("zoho_org")
        .max_concurrent(15)
        .ignore_env()
        .build()
        .unwrap();
    assert_eq!(org.config().max_concurrent, 15);
}

#[test]
fn a_rate_limiters_variables_beat_the_code_and_one_that_breaks_a_rule_is_ignored_alone() {
    let day = Duration::from_secs(86_400);
    let credits = RateLimiter::builder("zoho_credits", 100_000, day)
        .burst(500)
        .build_with_env(env(&[
            ("RATE_LIMIT_ZOHO_CREDITS_RATE", "50000"),
            ("RATE_LIMIT_ZOHO_CREDITS_PER", "12h"),
            ("RATE_LIMIT_ZOHO_CREDITS_BURST", "100"),
            ("RATE_LIMIT_ZOHO_CREDITS_MAX_WAIT", "3s"),
        ]))
        .unwrap();
    let c = credits.config();
    assert_eq!(
        (c.rate, c.per, c.burst, c.max_wait),
        (50_000, day / 2, 100, Duration::from_secs(3))
    );

    // A burst of 200 at one token a year would take 200 years to refill: that variable alone
    // is ignored; the rate's still applies.
    let year = Duration::from_secs(365 * 86_400);
    let slow = RateLimiter::builder("yearly", 2, year)
        .burst(50)
        .build_with_env(env(&[
            ("RATE_LIMIT_YEARLY_BURST", "200"),
            ("RATE_LIMIT_YEARLY_RATE", "1"),
        ]))
        .unwrap();
    assert_eq!((slow.config().rate, slow.config().burst), (1, 50));

    // A rate above one a nanosecond for the written period: ignored.
    let fast = RateLimiter::builder("fast", 1_000, Duration::from_secs(1))
        .build_with_env(env(&[("RATE_LIMIT_FAST_RATE", "2000000000")]))
        .unwrap();
    assert_eq!(fast.config().rate, 1_000);

    // One that does not parse: ignored, the others apply.
    let typo = RateLimiter::builder("typo", 10, Duration::from_secs(1))
        .build_with_env(env(&[
            ("RATE_LIMIT_TYPO_BURST", "lots"),
            ("RATE_LIMIT_TYPO_RATE", "20"),
        ]))
        .unwrap();
    assert_eq!((typo.config().rate, typo.config().burst), (20, 20));
}

// ---------------------------------------------------------------------------------------------
// Races and limits of the arithmetic
// ---------------------------------------------------------------------------------------------

/// Threads taking slots, waiting for them and giving up, on a bulkhead of one slot: never
/// two calls inside. More threads than cores, so that a thread is preempted now and then
/// between two steps of a release or a hand-over. Bounded: 8 threads, 1 s or 200 000 calls.
#[test]
fn never_two_calls_inside_a_bulkhead_of_one() {
    use std::sync::atomic::AtomicBool;
    let org = bulkhead(1, Duration::from_secs(3600));
    let inside = AtomicU32::new(0);
    let most = AtomicU32::new(0);
    let calls = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..8u64 {
            let (org, inside, most, calls, stop) = (&org, &inside, &most, &calls, &stop);
            scope.spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap();
                let _context = runtime.enter();
                let mut x = thread.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if calls.fetch_add(1, Ordering::Relaxed) > 200_000
                        || started.elapsed() > Duration::from_secs(1)
                    {
                        stop.store(true, Ordering::Relaxed);
                    }
                    let run = || {
                        let _inside = Inside::enter(inside, most);
                        for _ in 0..50 {
                            std::hint::spin_loop();
                        }
                    };
                    if x % 3 == 0 {
                        if let Ok(_slot) = org.try_acquire() {
                            run();
                        }
                        continue;
                    }
                    let mut waiting = Box::pin(org.acquire());
                    for _ in 0..(x % 5) {
                        match poll_once(&mut waiting) {
                            Poll::Ready(Ok(_slot)) => {
                                run();
                                break;
                            }
                            Poll::Ready(Err(_)) => break,
                            Poll::Pending => {
                                for _ in 0..(x % 200) {
                                    std::hint::spin_loop();
                                }
                            }
                        }
                    }
                }
            });
        }
    });
    assert!(
        most.load(Ordering::SeqCst) <= 1,
        "{} inside at once",
        most.load(Ordering::SeqCst)
    );
    let m = org.metrics();
    assert_eq!((m.in_flight, m.waiting), (0, 0), "{m:?}");
}

/// A reservation whose tokens are due, dropped before it was polled again (a `select!`, a
/// busy task): time has paid for those tokens, and giving them back would make up new ones.
#[tokio::test(start_paused = true)]
async fn a_reservation_dropped_after_its_due_time_gives_nothing_back() {
    let credits = limiter(1, Duration::from_secs(1), 1, Duration::from_secs(10));
    credits.try_acquire().unwrap();
    let mut late = Box::pin(credits.acquire_n(1));
    assert!(poll_once(&mut late).is_pending()); // reserved, due in 1 s
    advance(Duration::from_secs(100)).await;
    credits.try_acquire().unwrap(); // the bucket refilled: its one token taken
    drop(late);
    assert!(
        credits.try_acquire().is_err(),
        "a second token at once with a burst of 1"
    );
}

/// A cost whose weight in time does not fit in 64 bits is refused as above the burst, never
/// wrapped around into a small one.
#[test]
fn a_huge_cost_is_refused_not_overflowed() {
    let credits = limiter(1, Duration::from_secs(86_400), 1, Duration::ZERO);
    let refused = credits.try_acquire_n(213_504).unwrap_err();
    assert_eq!(refused.retry_after(), None);
    let refused = credits.try_acquire_n(u32::MAX).unwrap_err();
    assert_eq!(refused.retry_after(), None);
    // A cost of zero takes nothing.
    credits.try_acquire().unwrap();
    credits.try_acquire_n(0).unwrap();
}
