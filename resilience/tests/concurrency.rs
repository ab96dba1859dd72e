//! Half-open admission under many tasks, cancellation, panics and late results.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use resilience::{CircuitBreaker, CircuitState};
use tokio::time::advance;

fn breaker(
    name: &'static str,
    half_open_max_calls: u32,
    success_threshold: u32,
) -> Arc<CircuitBreaker> {
    Arc::new(
        CircuitBreaker::builder(name)
            .failure_threshold(1)
            .recovery_timeout(Duration::from_secs(10))
            .half_open_max_calls(half_open_max_calls)
            .success_threshold(success_threshold)
            .ignore_env()
            .build()
            .unwrap(),
    )
}

fn trip(b: &CircuitBreaker) {
    b.try_acquire().unwrap().record_failure();
    assert_eq!(b.state(), CircuitState::Open);
}

/// Many OS threads race for the half-open slots; never more than `half_open_max_calls` probes
/// may be in flight, and every admitted probe is recorded or released.
#[test]
fn half_open_admission_is_bounded_under_thread_contention() {
    const MAX: u32 = 3;
    let b = breaker("conc_threads", MAX, MAX);
    for round in 0..200 {
        trip(&b);
        assert!(b.try_half_open());
        let in_flight = Arc::new(AtomicU32::new(0));
        let peak = Arc::new(AtomicU32::new(0));
        let admitted = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..8 {
                let (b, in_flight, peak, admitted) = (&b, &in_flight, &peak, &admitted);
                s.spawn(move || {
                    for i in 0..50 {
                        if let Ok(permit) = b.try_acquire() {
                            if permit.admitted_in() != CircuitState::HalfOpen {
                                // The breaker closed meanwhile: ordinary closed-state calls.
                                permit.record_success();
                                continue;
                            }
                            admitted.fetch_add(1, Ordering::Relaxed);
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::yield_now();
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            // Abandon some probes, fail none: the breaker must still close.
                            if (t + i + round) % 3 == 0 {
                                drop(permit);
                            } else {
                                permit.record_success();
                            }
                        }
                    }
                });
            }
        });
        assert!(
            peak.load(Ordering::SeqCst) <= MAX,
            "round {round}: {} probes in flight at once",
            peak.load(Ordering::SeqCst)
        );
        assert!(admitted.load(Ordering::Relaxed) >= MAX as usize);
        assert_eq!(
            b.state(),
            CircuitState::Closed,
            "round {round}: stuck half-open"
        );
    }
}

/// The same on a multi-thread tokio runtime with tasks that hold their probe across awaits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_admission_is_bounded_across_tasks() {
    const MAX: u32 = 2;
    let b = breaker("conc_tasks", MAX, MAX);
    trip(&b);
    assert!(b.try_half_open());
    let in_flight = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (b, in_flight, peak) = (b.clone(), in_flight.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(permit) = b.try_acquire() else { return };
            // Only probes are limited; once closed, calls are not.
            let probe = permit.admitted_in() == CircuitState::HalfOpen;
            if probe {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
            }
            tokio::task::yield_now().await;
            if probe {
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            permit.record_success();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(peak.load(Ordering::SeqCst) <= MAX);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_aborted_half_open_call_frees_its_slot() {
    let b = breaker("conc_abort", 1, 1);
    trip(&b);
    advance(Duration::from_secs(10)).await;
    let task = {
        let b = b.clone();
        tokio::spawn(async move {
            b.call(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<_, ()>(())
            })
            .await
        })
    };
    tokio::task::yield_now().await; // the task takes the only probe slot
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert!(b.try_acquire().is_err(), "the probe slot is taken");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // The slot came back: the breaker is not stuck half-open.
    b.try_acquire().expect("slot released").record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_future_frees_its_slot() {
    let b = breaker("conc_drop_future", 1, 1);
    trip(&b);
    advance(Duration::from_secs(10)).await;
    let slow = b.call(|| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, ()>(())
    });
    // A timeout drops the call's future mid-flight.
    let r = tokio::time::timeout(Duration::from_secs(1), slow).await;
    assert!(r.is_err());
    assert!(
        b.try_acquire().is_ok(),
        "the cancelled probe released its slot"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_half_open_call_frees_its_slot() {
    let b = breaker("conc_panic", 1, 1);
    trip(&b);
    advance(Duration::from_secs(10)).await;
    let task = {
        let b = b.clone();
        tokio::spawn(async move {
            b.call(|| async {
                if true {
                    panic!("the operation panicked");
                }
                Ok::<(), ()>(())
            })
            .await
        })
    };
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    b.try_acquire().expect("slot released").record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_late_result_does_not_count_in_the_new_state() {
    let b = CircuitBreaker::builder("conc_late")
        .failure_threshold(2)
        .recovery_timeout(Duration::from_secs(10))
        .half_open_max_calls(2)
        .success_threshold(2)
        .ignore_env()
        .build()
        .unwrap();
    // A slow call admitted while closed...
    let slow_closed = b.try_acquire().unwrap();
    b.try_acquire().unwrap().record_failure();
    b.try_acquire().unwrap().record_failure();
    assert_eq!(b.state(), CircuitState::Open);
    // ...succeeds after the trip: the breaker stays open and keeps its failure count.
    slow_closed.record_success();
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().failure_count, 2);

    // A probe admitted in one half-open period...
    advance(Duration::from_secs(10)).await;
    let old_probe = b.try_acquire().unwrap();
    b.try_acquire().unwrap().record_failure(); // reopens
    advance(Duration::from_secs(10)).await;
    let new_probe = b.try_acquire().unwrap();
    // ...neither counts as a success nor frees a slot in the next one.
    old_probe.record_success();
    assert_eq!(b.metrics().success_count, 0);
    let second = b.try_acquire().unwrap();
    assert!(
        b.try_acquire().is_err(),
        "two slots in flight, the old probe freed none"
    );
    new_probe.record_success();
    second.record_success();
    assert_eq!(b.state(), CircuitState::Closed);

    // A stale failure after a reset does not count either.
    let before_reset = b.try_acquire().unwrap();
    b.reset();
    before_reset.record_failure();
    assert_eq!(b.metrics().failure_count, 0);
    assert_eq!(b.metrics().total_calls, 0);
}

/// Many threads record failures and successes at once in the closed state: the breaker must
/// trip exactly once per round and never lose a transition.
#[test]
fn concurrent_failures_trip_exactly_once() {
    let b = CircuitBreaker::builder("conc_trip")
        .failure_threshold(50)
        .recovery_timeout(Duration::from_secs(3600))
        .ignore_env()
        .build()
        .unwrap();
    let mut changes = b.subscribe();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..100 {
                    if let Ok(p) = b.try_acquire() {
                        p.record_failure();
                    }
                }
            });
        }
    });
    assert_eq!(b.state(), CircuitState::Open);
    let change = changes.try_recv().expect("one transition");
    assert_eq!(
        (change.old_state, change.new_state),
        (CircuitState::Closed, CircuitState::Open)
    );
    assert!(changes.try_recv().is_err(), "exactly one transition");
    assert!(b.metrics().failure_count >= 50);
}

#[tokio::test(start_paused = true)]
async fn an_owned_permit_moved_into_an_aborted_task_frees_its_slot() {
    let b = breaker("conc_owned_abort", 1, 1);
    trip(&b);
    advance(Duration::from_secs(10)).await;
    let permit = b.try_acquire_owned().expect("the probe is admitted");
    assert_eq!(permit.admitted_in(), CircuitState::HalfOpen);
    assert!(b.try_acquire_owned().is_err(), "the only slot is taken");
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        permit.record_success();
    });
    tokio::task::yield_now().await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // The permit was dropped with the task: the slot is free, the breaker can close.
    b.try_acquire_owned()
        .expect("slot released")
        .record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}
