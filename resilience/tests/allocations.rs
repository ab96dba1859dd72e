//! The call path allocates nothing: counted by a global allocator that counts, per thread,
//! every allocation made while a measurement runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience::{CircuitBreaker, CircuitState};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: the thread-locals may be gone while a thread shuts down.
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// How many allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

/// Polls a future that never waits to completion, without any runtime.
fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn breaker(name: &'static str) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .failure_threshold(5)
        .recovery_timeout(Duration::from_secs(3600))
        .ignore_env()
        .build()
        .unwrap()
}

#[test]
fn closed_calls_allocate_nothing() {
    let b = breaker("alloc_closed");
    // Warm up: first use of thread-locals and of the tracing callsites.
    b.try_acquire().unwrap().record_success();
    b.try_acquire().unwrap().record_failure();
    b.reset();

    let n = allocations(|| {
        for i in 0..10_000 {
            let permit = b.try_acquire().unwrap();
            if i % 2 == 0 {
                permit.record_success();
            } else {
                permit.record_failure(); // alternating: never trips
            }
        }
    });
    assert_eq!(n, 0, "permit API");
    assert_eq!(b.state(), CircuitState::Closed);

    let n = allocations(|| {
        for _ in 0..10_000 {
            let r = run(b.call(|| async { Ok::<u64, ()>(1) }));
            assert_eq!(r, Ok(1));
        }
    });
    assert_eq!(n, 0, "async call API");
}

#[test]
fn open_rejections_allocate_nothing() {
    let b = breaker("alloc_open");
    for _ in 0..5 {
        b.try_acquire().unwrap().record_failure();
    }
    assert_eq!(b.state(), CircuitState::Open);
    let _ = b.try_acquire(); // warm up
    let n = allocations(|| {
        for _ in 0..10_000 {
            assert!(b.try_acquire().is_err());
            assert!(run(b.call(|| async { Ok::<(), ()>(()) })).is_err());
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn the_counter_sees_allocations() {
    // The measurement itself must be able to fail.
    let n = allocations(|| {
        let v: Vec<u64> = Vec::with_capacity(16);
        std::hint::black_box(v);
    });
    assert_eq!(n, 1);
}

/// The tower layer adds no allocation per call: the permit is owned through an `Arc` clone and
/// the response future is a plain struct.
#[cfg(feature = "tower")]
#[test]
fn the_tower_layer_allocates_nothing_per_call() {
    use std::sync::Arc;

    use resilience::tower::CircuitBreakerService;
    use tower_service::Service;

    /// An inner service that answers at once and allocates nothing.
    struct Echo;

    impl Service<u32> for Echo {
        type Response = u32;
        type Error = &'static str;
        type Future = std::future::Ready<Result<u32, &'static str>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: u32) -> Self::Future {
            std::future::ready(if req % 2 == 0 { Ok(req) } else { Err("odd") })
        }
    }

    let breaker = Arc::new(
        CircuitBreaker::builder("alloc_tower")
            .failure_threshold(5)
            .ignore_env()
            .build()
            .unwrap(),
    );
    let mut service = CircuitBreakerService::new(Echo, Arc::clone(&breaker));
    let _ = run(service.call(0)); // warm up
    let n = allocations(|| {
        for i in 0..10_000u32 {
            let _ = run(service.call(i)); // alternating: never trips
        }
    });
    assert_eq!(n, 0, "closed calls through the layer");
    assert_eq!(breaker.state(), CircuitState::Closed);

    breaker.force_open();
    let _ = run(service.call(0));
    let n = allocations(|| {
        for i in 0..10_000u32 {
            assert!(run(service.call(i)).is_err());
        }
    });
    assert_eq!(n, 0, "rejections through the layer");
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn limits_allocate_nothing_per_call_admitted_refused_or_waiting() {
    use resilience::limit::{Bulkhead, RateLimiter, Timeout};

    let org = Bulkhead::builder("alloc_org")
        .max_concurrent(1)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let credits = RateLimiter::builder("alloc_credits", 10, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let timeout = Timeout::new(Duration::from_secs(5)).unwrap();
    // Warm up: tracing callsites, the timer wheel.
    drop(org.try_acquire());
    let _ = credits.try_acquire();
    let _ = timeout.run(async {}).await;

    assert_eq!(
        allocations(|| drop(org.try_acquire().unwrap())),
        0,
        "bulkhead slot"
    );
    assert_eq!(
        allocations(|| run(org.run(async {})).map(drop).unwrap()),
        0,
        "bulkhead run"
    );
    let held = std::cell::RefCell::new(Some(org.try_acquire().unwrap()));
    assert_eq!(
        allocations(|| drop(org.try_acquire().unwrap_err())),
        0,
        "bulkhead refusal"
    );
    // A waiter queued and dropped.
    assert_eq!(
        allocations(|| {
            let mut waiting = pin!(org.acquire());
            let cx = &mut Context::from_waker(Waker::noop());
            assert!(waiting.as_mut().poll(cx).is_pending());
        }),
        0,
        "bulkhead waiter"
    );
    // A waiter handed the slot of a call that ends.
    assert_eq!(
        allocations(|| {
            let mut waiting = pin!(org.acquire());
            let cx = &mut Context::from_waker(Waker::noop());
            assert!(waiting.as_mut().poll(cx).is_pending());
            drop(held.borrow_mut().take()); // the call ends: its slot goes to the waiter
            assert!(matches!(waiting.as_mut().poll(cx), Poll::Ready(Ok(_))));
        }),
        0,
        "bulkhead hand-over"
    );

    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        allocations(|| credits.try_acquire().unwrap()),
        0,
        "rate limiter token"
    );
    assert_eq!(
        allocations(|| drop(credits.try_acquire().unwrap_err())),
        0,
        "refusal"
    );
    assert_eq!(
        allocations(|| {
            let mut waiting = pin!(credits.acquire_n(1));
            let cx = &mut Context::from_waker(Waker::noop());
            assert!(waiting.as_mut().poll(cx).is_pending());
        }),
        0,
        "rate limiter waiter"
    );

    assert_eq!(
        allocations(|| {
            let mut call = pin!(timeout.run(async { 7 }));
            let cx = &mut Context::from_waker(Waker::noop());
            assert_eq!(call.as_mut().poll(cx), Poll::Ready(Ok(7)));
        }),
        0,
        "timeout"
    );
}

/// The limit layers and the retry layer add no allocation to a call they admit at once, with
/// or without a `max_wait`, and the retry layer none to a call that succeeds (its retry budget
/// included).
#[cfg(feature = "tower")]
#[test]
fn the_limit_and_retry_layers_allocate_nothing_per_call() {
    use std::sync::Arc;

    use resilience::RetryPolicy;
    use resilience::limit::{Bulkhead, RateLimiter};
    use resilience::tower::{BulkheadLayer, RateLimitLayer, RetryLayer};
    use tower_layer::Layer;
    use tower_service::Service;

    /// An inner service that answers at once and allocates nothing.
    #[derive(Clone)]
    struct Echo;

    impl Service<u32> for Echo {
        type Response = u32;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<u32, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: u32) -> Self::Future {
            std::future::ready(Ok(req))
        }
    }

    fn count<S: Service<u32, Response = u32>>(mut service: S) -> usize
    where
        S::Error: std::fmt::Debug,
    {
        let _ = run(service.call(0)); // warm up
        allocations(|| {
            for i in 0..10_000u32 {
                assert_eq!(run(service.call(i)).unwrap(), i);
            }
        })
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _context = runtime.enter();
    for max_wait in [Duration::ZERO, Duration::from_secs(1)] {
        let org = Bulkhead::builder("alloc_tower_bh")
            .max_wait(max_wait)
            .ignore_env()
            .build()
            .unwrap();
        let layer = BulkheadLayer::new(Arc::new(org));
        assert_eq!(
            count(layer.layer(Echo)),
            0,
            "bulkhead, max_wait {max_wait:?}"
        );

        let credits = RateLimiter::builder("alloc_tower_rl", 1_000_000_000, Duration::from_secs(1))
            .max_wait(max_wait)
            .ignore_env()
            .build()
            .unwrap();
        let layer = RateLimitLayer::new(Arc::new(credits));
        assert_eq!(
            count(layer.layer(Echo)),
            0,
            "rate limit, max_wait {max_wait:?}"
        );
    }
    let policy = RetryPolicy::builder().ignore_env().build().unwrap();
    assert_eq!(count(RetryLayer::new(policy).layer(Echo)), 0, "retry");
}

// ---------------------------------------------------------------------------------------------
// The attributes of the limits, under a breaker and retries
// ---------------------------------------------------------------------------------------------

#[resilience::retry(max_attempts = 2, base_delay = "1s")]
#[resilience::circuit_breaker(name = "alloc_attribute")]
#[resilience::rate_limit(name = "alloc_attribute", rate = 1, per = "1h")]
#[resilience::bulkhead(name = "alloc_attribute", max_concurrent = 1)]
#[resilience::timeout("5s")]
async fn limited(x: u32) -> Result<u32, resilience::Error> {
    Ok(x)
}

#[resilience::bulkhead(name = "alloc_attribute_alone", max_concurrent = 1)]
#[resilience::timeout("5s")]
async fn slotted(x: u32) -> Result<u32, resilience::Error> {
    Ok(x)
}

#[tokio::test(start_paused = true)]
async fn an_attribute_call_under_the_limits_allocates_nothing_admitted_or_refused() {
    // Warm up: the registry and the sites, tracing callsites, the timer wheel.
    assert_eq!(slotted(1).await.unwrap(), 1);
    assert_eq!(
        allocations(|| assert_eq!(run(slotted(2)).unwrap(), 2)),
        0,
        "admitted"
    );
    assert_eq!(limited(1).await.unwrap(), 1);
    // Refused by the rate limiter (its one token an hour is spent): two attempts, no wait
    // (the hour is past max_delay), the refusal returned.
    let refused = allocations(|| {
        assert!(matches!(
            run(limited(2)),
            Err(resilience::Error::RateLimited(_))
        ))
    });
    assert_eq!(refused, 0, "refused");
}
