//! `#[timeout]`, `#[bulkhead]` and `#[rate_limit]` at work, alone and under `#[circuit_breaker]`
//! and `#[retry]`, on virtual time; `#[retry(retry_after = ..)]`; the attribute limits in the
//! registry before their first call.
//!
//! `init()` fails in this binary, by design: two attributes give one bulkhead different
//! settings (see the last test).

use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience::{CircuitState, Error, bulkhead, circuit_breaker, rate_limit, retry, timeout};
use tokio::sync::Semaphore;
use tokio::time::{Instant, advance, sleep};

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error("HTTP 429, retry after {0}s")]
    TooManyRequests(u64),
    #[error(transparent)]
    Resilience(#[from] Error),
}

impl ZohoError {
    fn resilience(&self) -> Option<&Error> {
        match self {
            ZohoError::Resilience(e) => Some(e),
            _ => None,
        }
    }
}

/// Polls `fut` once: whether it finished.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// `call`'s output, or a panic once a minute of virtual time has passed: a call that should
/// have been refused at once, and waits at a gate instead, fails the test rather than hangs it.
async fn at_once<F: Future>(call: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .expect("refused at once, not waiting")
}

fn breaker(name: &str) -> std::sync::Arc<resilience::CircuitBreaker> {
    resilience::registry().get(name).expect("registered")
}

// ----- timeout -----

static SLOW_DROPPED: AtomicBool = AtomicBool::new(false);

struct SetOnDrop(&'static AtomicBool);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[circuit_breaker(name = "limits_timeout", failure_threshold = 2)]
#[timeout("1s")]
async fn slow() -> Result<u32, ZohoError> {
    let _dropped = SetOnDrop(&SLOW_DROPPED);
    sleep(Duration::from_secs(10)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_timeout_cancels_the_attempt_and_counts_as_a_failure_of_the_breaker() {
    let started = Instant::now();
    let error = slow().await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert!(
        SLOW_DROPPED.load(Ordering::SeqCst),
        "the body's future is dropped"
    );
    match error.resilience() {
        Some(Error::Timeout(t)) => assert_eq!(t.after(), Duration::from_secs(1)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(breaker("limits_timeout").metrics().failure_count, 1);
    slow().await.unwrap_err();
    assert!(breaker("limits_timeout").state().is_open());
    let started = Instant::now();
    let refused = slow().await.unwrap_err();
    assert!(matches!(refused.resilience(), Some(Error::CircuitOpen(_))));
    assert_eq!(started.elapsed(), Duration::ZERO, "refused without running");
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

/// The first attempt hangs, the second answers: the limit is per attempt.
#[retry(max_attempts = 3, base_delay = "1s", jitter = false)]
#[timeout("2s")]
async fn hangs_once() -> Result<u32, ZohoError> {
    if FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        sleep(Duration::from_secs(3600)).await;
    }
    Ok(7)
}

#[tokio::test(start_paused = true)]
async fn the_time_limit_holds_for_each_attempt() {
    let started = Instant::now();
    assert_eq!(hangs_once().await.unwrap(), 7);
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 2);
    // Two seconds of the first attempt, one of backoff.
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}

// ----- bulkhead -----

static ORG_GATE: Semaphore = Semaphore::const_new(0);

#[bulkhead(name = "limits_org", max_concurrent = 2)]
async fn org_call(id: u32) -> Result<u32, ZohoError> {
    ORG_GATE.acquire().await.expect("open").forget();
    Ok(id)
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_refuses_calls_past_max_concurrent_at_once() {
    let org = resilience::registry().bulkhead("limits_org").unwrap();
    let mut a = pin!(org_call(1));
    let mut b = pin!(org_call(2));
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    assert_eq!(org.metrics().in_flight, 2);
    let refused = at_once(org_call(3)).await.unwrap_err();
    match refused.resilience() {
        Some(Error::BulkheadFull(full)) => {
            assert_eq!(
                (full.bulkhead_name(), full.max_concurrent()),
                ("limits_org", 2)
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    ORG_GATE.add_permits(2);
    assert_eq!(a.await.unwrap(), 1);
    assert_eq!(b.await.unwrap(), 2);
    assert_eq!(org.metrics().in_flight, 0);
    assert_eq!(org.metrics().refused, 1);
}

static QUEUE_GATE: Semaphore = Semaphore::const_new(0);
static QUEUE_ORDER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[bulkhead(name = "limits_queue", max_concurrent = 1, max_wait = "2s")]
async fn queued(id: u32) -> Result<u32, ZohoError> {
    QUEUE_ORDER.lock().unwrap().push(id);
    QUEUE_GATE.acquire().await.expect("open").forget();
    Ok(id)
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_serves_waiters_in_order_up_to_max_wait() {
    let mut first = pin!(queued(1));
    let mut second = pin!(queued(2));
    let mut third = pin!(queued(3));
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(second.as_mut()).is_pending());
    assert!(poll_once(third.as_mut()).is_pending());
    assert_eq!(*QUEUE_ORDER.lock().unwrap(), [1]);
    QUEUE_GATE.add_permits(1);
    assert_eq!(first.await.unwrap(), 1);
    // The slot goes to the first waiter, not the last.
    assert!(poll_once(third.as_mut()).is_pending());
    assert!(poll_once(second.as_mut()).is_pending());
    assert_eq!(*QUEUE_ORDER.lock().unwrap(), [1, 2]);
    // The third waits out its two seconds behind the second and is refused.
    let started = Instant::now();
    let refused = third.await.unwrap_err();
    assert!(matches!(refused.resilience(), Some(Error::BulkheadFull(_))));
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    QUEUE_GATE.add_permits(1);
    assert_eq!(second.await.unwrap(), 2);
    assert_eq!(*QUEUE_ORDER.lock().unwrap(), [1, 2]);
}

static HELD_GATE: Semaphore = Semaphore::const_new(0);

#[bulkhead(name = "limits_cancel", max_concurrent = 1)]
async fn held(id: u32) -> Result<u32, ZohoError> {
    HELD_GATE.acquire().await.expect("open").forget();
    Ok(id)
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_frees_its_slot() {
    let org = resilience::registry().bulkhead("limits_cancel").unwrap();
    let task = tokio::spawn(held(1));
    tokio::task::yield_now().await;
    assert_eq!(org.metrics().in_flight, 1);
    assert!(at_once(held(2)).await.is_err(), "the one slot is taken");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(org.metrics().in_flight, 0);
    HELD_GATE.add_permits(1);
    assert_eq!(held(3).await.unwrap(), 3);
}

static STRESS_IN_FLIGHT: AtomicU32 = AtomicU32::new(0);
static STRESS_MAX: AtomicU32 = AtomicU32::new(0);

#[bulkhead(name = "limits_stress", max_concurrent = 3, max_wait = "60s")]
async fn stressed(i: u32) -> Result<u32, ZohoError> {
    let now = STRESS_IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
    STRESS_MAX.fetch_max(now, Ordering::SeqCst);
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    STRESS_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    Ok(i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_contention_no_more_than_max_concurrent_bodies_run_at_once() {
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            tokio::spawn(async move {
                for i in 0..200 {
                    assert_eq!(stressed(t * 1000 + i).await.unwrap(), t * 1000 + i);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let max = STRESS_MAX.load(Ordering::SeqCst);
    assert!((1..=3).contains(&max), "{max} bodies at once");
    let org = resilience::registry().bulkhead("limits_stress").unwrap();
    assert_eq!((org.metrics().in_flight, org.metrics().waiting), (0, 0));
}

// ----- rate limiter -----

#[rate_limit(name = "limits_credits", rate = 10, per = "1s", burst = 2)]
async fn credit() -> Result<(), ZohoError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_refuses_with_the_time_until_its_tokens_are_back() {
    credit().await.unwrap();
    credit().await.unwrap();
    let refused = credit().await.unwrap_err();
    match refused.resilience() {
        Some(Error::RateLimited(limited)) => {
            assert_eq!(limited.limiter_name(), "limits_credits");
            assert_eq!(limited.retry_after(), Some(Duration::from_millis(100)));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    advance(Duration::from_millis(100)).await;
    credit().await.unwrap();
}

#[rate_limit(name = "limits_cost", rate = 10, per = "1s", cost = 4)]
async fn search() -> Result<(), ZohoError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_call_spends_its_cost() {
    let metrics = || resilience::registry().rate_limiter_metrics()["limits_cost"].clone();
    assert_eq!(metrics().tokens_left, 10);
    search().await.unwrap();
    assert_eq!(metrics().tokens_left, 6);
    search().await.unwrap();
    assert!(search().await.is_err(), "2 tokens left, 4 asked");
    assert_eq!(metrics().tokens_left, 2);
}

#[rate_limit(name = "limits_wait", rate = 1, per = "1s", max_wait = "5s")]
async fn patient(id: u32) -> Result<u32, ZohoError> {
    Ok(id)
}

#[tokio::test(start_paused = true)]
async fn a_call_waits_for_its_tokens_and_a_cancelled_wait_gives_them_back() {
    let limiter = resilience::registry().rate_limiter("limits_wait").unwrap();
    assert_eq!(patient(1).await.unwrap(), 1);
    let started = Instant::now();
    assert_eq!(patient(2).await.unwrap(), 2, "waited for its token");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    {
        let mut waiting = pin!(patient(3));
        assert!(poll_once(waiting.as_mut()).is_pending());
    }
    advance(Duration::from_secs(1)).await;
    assert_eq!(
        limiter.metrics().tokens_left,
        1,
        "the dropped call's token came back"
    );
}

// ----- refusals and the breaker -----

#[circuit_breaker(name = "limits_refusals", failure_threshold = 2)]
#[rate_limit(name = "limits_refusals", rate = 1, per = "1h")]
async fn metered() -> Result<(), ZohoError> {
    Ok(())
}

static BUSY_GATE: Semaphore = Semaphore::const_new(0);

#[bulkhead(name = "limits_busy", max_concurrent = 1)]
#[circuit_breaker(name = "limits_busy", failure_threshold = 2)]
async fn busy() -> Result<(), ZohoError> {
    BUSY_GATE.acquire().await.expect("open").forget();
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_refusal_is_not_a_failure_of_the_dependency() {
    metered().await.unwrap();
    for _ in 0..20 {
        let refused = metered().await.unwrap_err();
        assert!(matches!(refused.resilience(), Some(Error::RateLimited(_))));
    }
    let metrics = breaker("limits_refusals").metrics();
    assert_eq!(metrics.state, CircuitState::Closed);
    assert_eq!((metrics.failure_count, metrics.total_calls), (0, 1));

    let mut holder = pin!(busy());
    assert!(poll_once(holder.as_mut()).is_pending());
    for _ in 0..20 {
        let refused = at_once(busy()).await.unwrap_err();
        assert!(matches!(refused.resilience(), Some(Error::BulkheadFull(_))));
    }
    assert_eq!(breaker("limits_busy").state(), CircuitState::Closed);
    assert_eq!(breaker("limits_busy").metrics().failure_count, 0);
    BUSY_GATE.add_permits(1);
    holder.await.unwrap();
}

/// A half-open breaker's probe refused by a limit frees its probe slot: the next call probes.
#[circuit_breaker(
    name = "limits_probe",
    failure_threshold = 1,
    recovery_timeout = "10s",
    half_open_max_calls = 1,
    success_threshold = 1
)]
#[rate_limit(name = "limits_probe", rate = 1, per = "20s")]
async fn probed(fail: bool) -> Result<(), ZohoError> {
    if fail {
        Err(ZohoError::Http(503))
    } else {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_probe_refused_by_a_limit_releases_its_half_open_slot() {
    probed(true).await.unwrap_err();
    assert!(breaker("limits_probe").state().is_open());
    advance(Duration::from_secs(10)).await;
    // Half-open: the probe passes the breaker, the limiter (spent 10 s ago) refuses it.
    let refused = probed(false).await.unwrap_err();
    assert!(matches!(refused.resilience(), Some(Error::RateLimited(_))));
    assert_eq!(breaker("limits_probe").state(), CircuitState::HalfOpen);
    advance(Duration::from_secs(10)).await;
    probed(false).await.expect("the probe slot was freed");
    assert_eq!(breaker("limits_probe").state(), CircuitState::Closed);
}

// ----- retry -----

#[retry(max_attempts = 3, base_delay = "10ms", max_delay = "5s")]
#[rate_limit(name = "limits_retried", rate = 1, per = "2s")]
async fn retried() -> Result<(), ZohoError> {
    Ok(())
}

#[retry(max_attempts = 3, base_delay = "10ms", max_delay = "1s")]
#[rate_limit(name = "limits_not_retried", rate = 1, per = "2s")]
async fn not_retried() -> Result<(), ZohoError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn retry_waits_a_rate_limiters_retry_after_when_it_fits() {
    retried().await.unwrap();
    let started = Instant::now();
    retried().await.expect("served after the wait");
    assert_eq!(started.elapsed(), Duration::from_secs(2));

    not_retried().await.unwrap();
    let started = Instant::now();
    let refused = not_retried().await.unwrap_err();
    assert!(matches!(refused.resilience(), Some(Error::RateLimited(_))));
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "2 s is past max_delay: no wait"
    );
    let limiter = resilience::registry().rate_limiter("limits_not_retried");
    assert_eq!(limiter.unwrap().metrics().refused, 1, "one attempt only");
}

fn server_hint(error: &ZohoError) -> Option<Duration> {
    match error {
        ZohoError::TooManyRequests(secs) => Some(Duration::from_secs(*secs)),
        _ => None,
    }
}

#[retry(
    max_attempts = 3,
    base_delay = "10ms",
    max_delay = "10s",
    jitter = false,
    retry_after = server_hint
)]
async fn hinted(calls: &AtomicU32, first: fn() -> ZohoError) -> Result<u32, ZohoError> {
    match calls.fetch_add(1, Ordering::SeqCst) {
        0 => Err(first()),
        n => Ok(n),
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_is_waited_when_it_fits_and_ends_the_retries_otherwise() {
    let calls = AtomicU32::new(0);
    let started = Instant::now();
    assert_eq!(
        hinted(&calls, || ZohoError::TooManyRequests(3))
            .await
            .unwrap(),
        1
    );
    assert_eq!(started.elapsed(), Duration::from_secs(3), "the hint's wait");

    let calls = AtomicU32::new(0);
    let started = Instant::now();
    let error = hinted(&calls, || ZohoError::TooManyRequests(30))
        .await
        .unwrap_err();
    assert!(matches!(error, ZohoError::TooManyRequests(30)));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "30 s is past max_delay: no retry"
    );
    assert_eq!(started.elapsed(), Duration::ZERO);

    let calls = AtomicU32::new(0);
    let started = Instant::now();
    assert_eq!(hinted(&calls, || ZohoError::Http(503)).await.unwrap(), 1);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(10),
        "no hint: the backoff"
    );
}

// ----- all six, and the registry -----

struct Zoho;

impl Zoho {
    #[rate_limit(
        name = "limits_all_credits",
        rate = 100,
        per = "1s",
        burst = 5,
        cost = 2
    )]
    #[timeout("1s")]
    #[fallback(get_account_rest)]
    #[bulkhead(name = "limits_all_org", max_concurrent = 2)]
    #[retry(max_attempts = 2, base_delay = "10ms")]
    #[circuit_breaker(name = "limits_all_mcp", failure_threshold = 5)]
    async fn get_account(&self, id: u32, hang: bool) -> Result<u32, ZohoError> {
        if hang {
            sleep(Duration::from_secs(60)).await;
        }
        Ok(id)
    }

    async fn get_account_rest(&self, id: u32, _hang: bool) -> Result<u32, ZohoError> {
        Ok(id + 1000)
    }
}

use resilience::fallback;

#[tokio::test(start_paused = true)]
async fn all_six_compose_in_their_fixed_order() {
    assert_eq!(Zoho.get_account(1, false).await.unwrap(), 1);
    let started = Instant::now();
    // Each attempt times out (a failure of the breaker), then the tier serves.
    assert_eq!(Zoho.get_account(2, true).await.unwrap(), 1002);
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(breaker("limits_all_mcp").metrics().failure_count, 2);
    let credits = resilience::registry()
        .rate_limiter("limits_all_credits")
        .unwrap();
    assert_eq!(credits.metrics().refused, 0);
    let org = resilience::registry().bulkhead("limits_all_org").unwrap();
    assert_eq!(org.metrics().in_flight, 0);
}

#[allow(dead_code)]
#[bulkhead(name = "limits_listed", max_concurrent = 7, max_wait = "1s")]
async fn never_called() -> Result<(), ZohoError> {
    Ok(())
}

#[allow(dead_code)]
#[rate_limit(rate = 5, per = "1s")]
async fn never_called_either() -> Result<(), ZohoError> {
    Ok(())
}

#[test]
fn the_registry_lists_the_attribute_limits_before_their_first_call() {
    let bulkheads = resilience::registry().bulkhead_metrics();
    let listed = &bulkheads["limits_listed"];
    assert_eq!((listed.max_concurrent, listed.in_flight), (7, 0));
    let limiters = resilience::registry().rate_limiter_metrics();
    let default = &limiters["limits::never_called_either"];
    assert_eq!((default.burst, default.tokens_left), (5, 5));
}

const FIRST_PLACE: u32 = line!() + 1;
#[bulkhead(name = "limits_conflict", max_concurrent = 4)]
async fn conflict_a() -> Result<(), ZohoError> {
    Ok(())
}

const SECOND_PLACE: u32 = line!() + 1;
#[bulkhead(name = "limits_conflict", max_concurrent = 5)]
async fn conflict_b() -> Result<(), ZohoError> {
    Ok(())
}

#[tokio::test]
async fn init_reports_two_attributes_giving_one_bulkhead_different_settings() {
    let error = resilience::init().unwrap_err().to_string();
    let places = format!(
        "tests/limits.rs:{FIRST_PLACE} (max_concurrent = 4) and tests/limits.rs:{SECOND_PLACE} \
         (max_concurrent = 5)"
    );
    assert!(error.contains(&places), "{error}");
    assert!(error.contains("two #[bulkhead] attributes"), "{error}");
    // The first is used, by both.
    conflict_a().await.unwrap();
    conflict_b().await.unwrap();
    let org = resilience::registry().bulkhead("limits_conflict").unwrap();
    assert_eq!(org.config().max_concurrent, 4);
}
