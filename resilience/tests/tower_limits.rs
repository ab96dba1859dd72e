//! `resilience::tower`'s limit layers on virtual time: `BulkheadLayer` and `RateLimitLayer`
//! alone, and under a `CircuitBreakerLayer` in the order the design gives them.
#![cfg(feature = "tower")]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use resilience::limit::{Bulkhead, BulkheadFullError, RateLimitedError, RateLimiter};
use resilience::tower::{BulkheadLayer, CircuitBreakerLayer, RateLimitLayer};
use resilience::{BoxError, CircuitBreaker, CircuitState};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

fn bulkhead(name: &'static str, max_concurrent: u32, max_wait: Duration) -> Arc<Bulkhead> {
    Arc::new(
        Bulkhead::builder(name)
            .ignore_env()
            .max_concurrent(max_concurrent)
            .max_wait(max_wait)
            .build()
            .unwrap(),
    )
}

fn limiter(name: &'static str, rate: u64, burst: u32, max_wait: Duration) -> Arc<RateLimiter> {
    Arc::new(
        RateLimiter::builder(name, rate, Duration::from_secs(1))
            .ignore_env()
            .burst(burst)
            .max_wait(max_wait)
            .build()
            .unwrap(),
    )
}

/// A service that sleeps `hold` of virtual time, then answers its request; counts its calls.
fn sleeper(
    hold: Duration,
    calls: Arc<AtomicU32>,
) -> impl Service<u32, Response = u32, Error = std::io::Error, Future: Send> + Clone {
    service_fn(move |id: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(hold).await;
            Ok(id)
        }
    })
}

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    fut.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

// ---------------------------------------------------------------------------------------------
// Bulkhead
// ---------------------------------------------------------------------------------------------

/// Sixteen tasks on four worker threads push 200 calls each through clones of one service;
/// the calls yield while they run. No more than `max_concurrent` ever run at once, and, with a
/// long `max_wait`, every call is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulkhead_concurrency_is_never_exceeded_under_a_multi_threaded_stress() {
    const MAX: u32 = 3;
    let org = bulkhead("stress_bh", MAX, Duration::from_secs(3600));
    let running = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let inner = {
        let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
        service_fn(move |id: u32| {
            let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(id)
            }
        })
    };
    let svc = BulkheadLayer::new(Arc::clone(&org)).layer(inner);
    let served = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let svc = svc.clone();
            let served = Arc::clone(&served);
            tokio::spawn(async move {
                for i in 0..200 {
                    let id = t * 1000 + i;
                    assert_eq!(svc.clone().oneshot(id).await.unwrap(), id);
                    served.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(served.load(Ordering::SeqCst), 16 * 200);
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=MAX).contains(&peak), "peak of {peak} calls at once");
    let m = org.metrics();
    assert_eq!((m.in_flight, m.waiting, m.refused), (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn bulkhead_clones_share_one_bulkhead_and_refuse_when_it_is_full() {
    let org = bulkhead("clones_bh", 2, Duration::ZERO);
    let calls = Arc::new(AtomicU32::new(0));
    let svc = BulkheadLayer::new(Arc::clone(&org))
        .layer(sleeper(Duration::from_secs(5), Arc::clone(&calls)));
    let (mut a, mut b, mut c) = (svc.clone(), svc.clone(), svc.clone());
    let first = tokio::spawn(a.ready().await.unwrap().call(1));
    let second = tokio::spawn(b.ready().await.unwrap().call(2));
    tokio::task::yield_now().await;
    assert_eq!(org.metrics().in_flight, 2);

    let refused = c.ready().await.unwrap().call(3).await.unwrap_err();
    let full = refused
        .downcast_ref::<BulkheadFullError>()
        .expect("a refusal");
    assert_eq!(
        (full.bulkhead_name(), full.max_concurrent()),
        ("clones_bh", 2)
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "a refused call never reaches the service"
    );

    assert_eq!(first.await.unwrap().unwrap(), 1);
    assert_eq!(second.await.unwrap().unwrap(), 2);
    assert_eq!(org.metrics().in_flight, 0);
    assert_eq!(c.ready().await.unwrap().call(4).await.unwrap(), 4);
}

#[tokio::test(start_paused = true)]
async fn bulkhead_a_dropped_response_future_frees_its_slot() {
    let org = bulkhead("drop_bh", 1, Duration::from_secs(10));
    let svc = BulkheadLayer::new(Arc::clone(&org)).layer(service_fn(|_: u32| {
        std::future::pending::<Result<u32, std::io::Error>>()
    }));
    let mut running = Box::pin(svc.clone().oneshot(1));
    assert!(poll_once(running.as_mut()).is_pending());
    assert_eq!(org.metrics().in_flight, 1);

    // A second call waits for the slot; dropped while it waits, it leaves the queue.
    let mut waiting = Box::pin(svc.clone().oneshot(2));
    assert!(poll_once(waiting.as_mut()).is_pending());
    assert_eq!((org.metrics().in_flight, org.metrics().waiting), (1, 1));
    drop(waiting);
    assert_eq!((org.metrics().in_flight, org.metrics().waiting), (1, 0));

    drop(running);
    assert_eq!(
        org.metrics().in_flight,
        0,
        "the cancelled call's slot is free"
    );
    assert!(org.try_acquire().is_ok());
}

/// With `max_wait`, calls wait their turn in arrival order: each is served as soon as the slot
/// frees within its wait, and refused once its wait has passed.
#[tokio::test(start_paused = true)]
async fn bulkhead_calls_wait_in_order_up_to_max_wait() {
    let org = bulkhead("wait_bh", 1, Duration::from_secs(4));
    let calls = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let svc = BulkheadLayer::new(Arc::clone(&org))
        .layer(sleeper(Duration::from_millis(1500), Arc::clone(&calls)));
    let done = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks: Vec<_> = (1..=4)
        .map(|id| {
            let (svc, done) = (svc.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let r = svc.oneshot(id).await;
                done.lock().unwrap().push((id, start.elapsed(), r.is_ok()));
                r
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await.unwrap();
    }
    // 1 runs 0-1.5 s; 2 and 3 wait, and run in turn, 1.5-3 s and 3-4.5 s (3 waited 3 s of
    // its 4); 4 waits too, and is refused at 4 s, the slot still taken.
    let ms = Duration::from_millis;
    let done = done.lock().unwrap().clone();
    assert_eq!(
        done,
        [
            (1, ms(1500), true),
            (2, ms(3000), true),
            (4, ms(4000), false),
            (3, ms(4500), true)
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(org.metrics().refused, 1);
}

// ---------------------------------------------------------------------------------------------
// Rate limiter
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn rate_limit_refusal_carries_retry_after_and_the_cost_is_spent() {
    // 10 tokens a second, 10 at once; each call costs its request.
    let credits = limiter("cost_rl", 10, 10, Duration::ZERO);
    let calls = Arc::new(AtomicU32::new(0));
    let svc = RateLimitLayer::new(Arc::clone(&credits))
        .cost(|cost: &u32| *cost)
        .layer(sleeper(Duration::ZERO, Arc::clone(&calls)));
    assert_eq!(svc.clone().oneshot(4).await.unwrap(), 4);
    assert_eq!(svc.clone().oneshot(4).await.unwrap(), 4);
    assert_eq!(credits.metrics().tokens_left, 2, "8 tokens spent");

    let err = svc.clone().oneshot(4).await.unwrap_err();
    let refused = err.downcast_ref::<RateLimitedError>().expect("a refusal");
    assert_eq!(refused.limiter_name(), "cost_rl");
    // Two tokens short, at 100 ms a token.
    assert_eq!(refused.retry_after(), Some(Duration::from_millis(200)));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "a refused call never reaches the service"
    );
    assert_eq!(credits.metrics().tokens_left, 2, "a refusal takes nothing");

    // A cost above the whole burst never passes, and says so.
    let never = svc.clone().oneshot(11).await.unwrap_err();
    assert_eq!(
        never
            .downcast_ref::<RateLimitedError>()
            .unwrap()
            .retry_after(),
        None
    );

    tokio::time::advance(Duration::from_millis(200)).await;
    assert_eq!(svc.clone().oneshot(4).await.unwrap(), 4);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_clones_share_one_limiter() {
    let credits = limiter("clones_rl", 1, 3, Duration::ZERO);
    let calls = Arc::new(AtomicU32::new(0));
    let svc = RateLimitLayer::new(Arc::clone(&credits))
        .layer(sleeper(Duration::ZERO, Arc::clone(&calls)));
    let clones = [svc.clone(), svc.clone(), svc.clone()];
    for (i, clone) in clones.into_iter().enumerate() {
        assert_eq!(clone.oneshot(i as u32).await.unwrap(), i as u32);
    }
    let refused = svc.clone().oneshot(9).await.unwrap_err();
    assert!(refused.is::<RateLimitedError>());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// With `max_wait`, a call whose tokens are due within it waits for them (in its response
/// future), then runs; dropped while it waits, it gives them back.
#[tokio::test(start_paused = true)]
async fn rate_limit_waits_for_tokens_within_max_wait_and_gives_them_back_when_dropped() {
    let credits = limiter("wait_rl", 2, 1, Duration::from_secs(1));
    let calls = Arc::new(AtomicU32::new(0));
    let svc = RateLimitLayer::new(Arc::clone(&credits))
        .layer(sleeper(Duration::ZERO, Arc::clone(&calls)));
    let start = Instant::now();
    svc.clone().oneshot(1).await.unwrap();
    svc.clone().oneshot(2).await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(500),
        "waited for its token"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let mut waiting = Box::pin(svc.clone().oneshot(3));
    assert!(poll_once(waiting.as_mut()).is_pending());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "not called before its token is due"
    );
    drop(waiting);
    // The token it reserved is back: the next call waits only the usual 500 ms.
    let before = Instant::now();
    svc.clone().oneshot(4).await.unwrap();
    assert_eq!(before.elapsed(), Duration::from_millis(500));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

// ---------------------------------------------------------------------------------------------
// Under a circuit breaker
// ---------------------------------------------------------------------------------------------

fn breaker(name: &'static str) -> Arc<CircuitBreaker> {
    Arc::new(
        CircuitBreaker::builder(name)
            .ignore_env()
            .failure_threshold(2)
            .recovery_timeout(Duration::from_secs(30))
            .half_open_max_calls(1)
            .success_threshold(1)
            .build()
            .unwrap(),
    )
}

/// breaker(rate limit(bulkhead(service))), the design's order, with a classifier that calls
/// every outcome a failure: refusals by the limits never count, real failures do, and an open
/// breaker refuses before a credit or a slot is spent.
#[tokio::test(start_paused = true)]
async fn limit_refusals_never_count_as_breaker_failures_whatever_the_classifier() {
    let b = breaker("compose_cb");
    let credits = limiter("compose_rl", 10, 3, Duration::ZERO);
    let org = bulkhead("compose_bh", 1, Duration::ZERO);
    let calls = Arc::new(AtomicU32::new(0));
    let inner = {
        let calls = Arc::clone(&calls);
        service_fn(move |id: u32| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                match id {
                    0 => Err::<u32, _>(std::io::Error::other("tier down")),
                    1 => {
                        tokio::time::sleep(Duration::from_secs(60)).await; // slow: holds the slot
                        Ok(id)
                    }
                    _ => Ok(id),
                }
            }
        })
    };
    let svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&b)).classify(|_: &Result<u32, BoxError>| true))
        .layer(RateLimitLayer::new(Arc::clone(&credits)))
        .layer(BulkheadLayer::new(Arc::clone(&org)))
        .service(inner);

    // The slow call holds the only slot; the next is refused by the bulkhead.
    let slow = tokio::spawn(svc.clone().oneshot(1));
    tokio::task::yield_now().await;
    let full = svc.clone().oneshot(2).await.unwrap_err();
    assert!(full.as_inner().unwrap().is::<BulkheadFullError>(), "{full}");
    // The burst of 3 is spent (slow call, bulkhead refusal, this one): a rate limit refusal.
    let _ = svc.clone().oneshot(2).await.unwrap_err();
    let limited = svc.clone().oneshot(2).await.unwrap_err();
    let refused = limited
        .as_inner()
        .unwrap()
        .downcast_ref::<RateLimitedError>();
    assert!(
        refused.is_some_and(|r| r.retry_after().is_some()),
        "{limited}"
    );

    let m = b.metrics();
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(m.failure_count, 0, "refusals are not failures: {m:?}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "only the slow call reached the service"
    );

    // Real failures do count, with the same classifier.
    slow.abort();
    let _ = slow.await;
    tokio::time::advance(Duration::from_secs(1)).await; // tokens back
    for _ in 0..2 {
        let failed = svc.clone().oneshot(0).await.unwrap_err();
        assert_eq!(failed.to_string(), "tier down");
    }
    assert_eq!(b.state(), CircuitState::Open);

    // Open: refused before a credit or a slot is spent, and the service is not called.
    let tokens = credits.metrics().tokens_left;
    let calls_before = calls.load(Ordering::SeqCst);
    assert!(svc.clone().oneshot(2).await.unwrap_err().is_rejected());
    assert_eq!(credits.metrics().tokens_left, tokens);
    assert_eq!(org.metrics().in_flight, 0);
    assert_eq!(calls.load(Ordering::SeqCst), calls_before);
}

/// Half-open, a probe refused by a limit gives its probe slot back unrecorded: the breaker
/// neither reopens nor stays stuck, and the next probe goes through.
#[tokio::test(start_paused = true)]
async fn a_probe_refused_by_a_limit_frees_the_half_open_slot() {
    let b = breaker("probe_cb");
    let org = bulkhead("probe_bh", 1, Duration::ZERO);
    let svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&b)))
        .layer(BulkheadLayer::new(Arc::clone(&org)))
        .service(service_fn(
            |id: u32| async move { Ok::<_, std::io::Error>(id) },
        ));
    b.force_open();
    b.reset();
    for _ in 0..2 {
        b.try_acquire().unwrap().record_failure();
    }
    assert_eq!(b.state(), CircuitState::Open);
    tokio::time::advance(Duration::from_secs(30)).await;

    let held = org.try_acquire().unwrap(); // someone else holds the only slot
    let refused = svc.clone().oneshot(7).await.unwrap_err();
    assert!(refused.as_inner().unwrap().is::<BulkheadFullError>());
    assert_eq!(
        b.state(),
        CircuitState::HalfOpen,
        "not reopened by a refusal"
    );
    drop(held);

    assert_eq!(
        svc.clone().oneshot(7).await.unwrap(),
        7,
        "the probe slot was freed"
    );
    assert_eq!(b.state(), CircuitState::Closed);
}

/// A cost model of its own: a request costs one token per item, and a cost of zero passes
/// without taking any.
#[tokio::test(start_paused = true)]
async fn rate_limit_a_cost_model_weighs_each_request() {
    use resilience::tower::Cost;

    #[derive(Clone)]
    struct PerItem;

    impl Cost<Vec<u32>> for PerItem {
        fn cost(&self, items: &Vec<u32>) -> u32 {
            items.len() as u32
        }
    }

    let credits = limiter("model_rl", 10, 5, Duration::ZERO);
    let svc = RateLimitLayer::new(Arc::clone(&credits))
        .cost_model(PerItem)
        .layer(service_fn(|items: Vec<u32>| async move {
            Ok::<_, std::io::Error>(items.len())
        }));
    assert_eq!(svc.clone().oneshot(vec![1, 2, 3]).await.unwrap(), 3);
    assert_eq!(credits.metrics().tokens_left, 2);
    assert_eq!(svc.clone().oneshot(vec![]).await.unwrap(), 0);
    assert_eq!(credits.metrics().tokens_left, 2);
    let refused = svc.clone().oneshot(vec![1, 2, 3]).await.unwrap_err();
    assert_eq!(
        refused
            .downcast_ref::<RateLimitedError>()
            .unwrap()
            .retry_after(),
        Some(Duration::from_millis(100))
    );
}

/// Holds the attribute's one slot of `tower_shared_org` until `release` fires.
#[resilience::bulkhead(name = "tower_shared_org", max_concurrent = 1)]
async fn hold_the_org_slot(
    release: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), resilience::Error> {
    let _ = release.await;
    Ok(())
}

#[resilience::rate_limit(name = "tower_shared_credits", rate = 1, per = "1h")]
async fn spend_the_credit() -> Result<(), resilience::Error> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_named_layer_shares_the_limits_an_attribute_wrote() {
    let mut layered = ServiceBuilder::new()
        .layer(BulkheadLayer::named("tower_shared_org").unwrap())
        .service(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    assert_eq!(
        resilience::registry()
            .bulkhead("tower_shared_org")
            .unwrap()
            .config()
            .max_concurrent,
        1,
        "the attribute's settings"
    );
    let (release, held) = tokio::sync::oneshot::channel();
    let holder = tokio::spawn(hold_the_org_slot(held));
    tokio::task::yield_now().await;
    let refused = layered.ready().await.unwrap().call(1).await.unwrap_err();
    assert!(refused.is::<BulkheadFullError>(), "{refused}");
    release.send(()).unwrap();
    holder.await.unwrap().unwrap();
    assert_eq!(layered.ready().await.unwrap().call(2).await.unwrap(), 2);

    let mut metered = RateLimitLayer::named("tower_shared_credits")
        .expect("the attribute's limiter is registered")
        .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    spend_the_credit().await.unwrap();
    let refused = metered.ready().await.unwrap().call(3).await.unwrap_err();
    assert!(refused.is::<RateLimitedError>(), "{refused}");
    assert!(RateLimitLayer::named("tower_no_such_limiter").is_none());
}
