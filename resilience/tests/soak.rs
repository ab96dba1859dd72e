//! Soak: a million calls over 64 tasks on a multi-thread runtime, with random faults and
//! random cancellations, through a breaker directly, through `RetryPolicy::call` and through a
//! `FallbackHandler` whose first two tiers have breakers (every delay zero, so that it stays
//! fast).
//!
//! Checked while it runs: every metrics snapshot is sane (`error_rate` in [0, 1],
//! `total_calls <= window_size`, counters within their thresholds, `time_until_retry` exactly
//! when open) and the state-change sequences are valid paths of the diagram. At the end: both
//! breakers recover (no leaked probe slot) and memory did not grow: a counting global allocator
//! compares the live allocations after a warm-up with those after the soak.
//!
//! `RESILIENCE_SOAK_CALLS` sets the number of calls (default 1 000 000; a debug build on two
//! cores runs the default in about a second). Run with `--nocapture` for the figures:
//!
//! ```text
//! RESILIENCE_SOAK_CALLS=10000000 cargo test --release -p resilience --test soak -- --nocapture
//! ```
//!
//! This binary holds a single test, so that nothing else allocates while it measures.

#[path = "support/reliability.rs"]
mod reliability;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reliability::{Operator, Recorder, Rng, assert_recovers};
use resilience::{
    CallError, CircuitBreaker, CircuitState, FallbackHandler, Metrics, RetryPolicy, Tier,
};

// ---------------------------------------------------------------------------------------------
// Counting allocator: live allocations and bytes, over every thread
// ---------------------------------------------------------------------------------------------

struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(1, Ordering::Relaxed);
            LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (live allocations, live bytes)
fn live() -> (i64, i64) {
    (
        LIVE.load(Ordering::SeqCst),
        LIVE_BYTES.load(Ordering::SeqCst),
    )
}

// ---------------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------------

const TASKS: u64 = 64;
const DEFAULT_CALLS: u64 = 1_000_000;
/// Live allocations (and KiB) the soak may leave beyond the warm-up's: runtime bookkeeping, not
/// anything that grows with the number of calls (a leak of one allocation per 10 000 calls
/// would already be 100).
const SLACK: i64 = 64;

#[derive(Debug)]
struct Fault;

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fault")
    }
}

fn breaker(name: &'static str) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .failure_threshold(5)
        .recovery_timeout(Duration::from_micros(200))
        .half_open_max_calls(3)
        .success_threshold(2)
        .window_size(100)
        .minimum_calls(20)
        .failure_rate_threshold(0.5)
        .ignore_env()
        .build()
        .unwrap()
}

/// What one phase of calls did.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    calls: u64,
    ok: u64,
    failed: u64,
    rejected: u64,
    cancelled: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.calls += other.calls;
        self.ok += other.ok;
        self.failed += other.failed;
        self.rejected += other.rejected;
        self.cancelled += other.cancelled;
    }
}

/// The dependency: may yield once (so that a cancellation finds it mid-flight), then answers or
/// fails.
fn dependency(
    rng: &mut Rng,
    fail_percent: u64,
) -> impl Future<Output = Result<u32, Fault>> + use<> {
    let (yields, fails) = (rng.percent(50), rng.percent(fail_percent));
    async move {
        if yields {
            tokio::task::yield_now().await;
        }
        if fails { Err(Fault) } else { Ok(1) }
    }
}

/// Runs `f`, or drops it after its first poll when `cancel` is set (if it has not finished by
/// then: a call cancelled mid-flight).
async fn cancellable<F: Future>(cancel: bool, f: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        out = f => Some(out),
        () = std::future::ready(()), if cancel => None,
    }
}

struct Shared {
    b: CircuitBreaker,
    b2: CircuitBreaker,
    retry: RetryPolicy,
    recorders: [Recorder; 2],
}

async fn one_task(shared: Arc<Shared>, seed: u64, calls: u64) -> Tally {
    let Shared { b, b2, retry, .. } = &*shared;
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    for i in 0..calls {
        if i % 32 == 0 {
            for rec in &shared.recorders {
                rec.wait_for_room_async().await;
            }
        }
        // Faults come in phases, roughly together in every task: healthy, degraded, failing,
        // down.
        let fail_percent = [1, 5, 30, 90][((i / 500) % 4) as usize];
        let cancel = rng.percent(10);
        tally.calls += 1;
        let outcome: Option<Result<(), Option<()>>> = match rng.below(100) {
            // Straight through the breaker.
            0..=59 => cancellable(cancel, b.call(|| dependency(&mut rng, fail_percent)))
                .await
                .map(classify),
            // Dropped by a timeout that has already expired, mid-flight or not.
            60..=69 => {
                let call = b.call(|| dependency(&mut rng, fail_percent));
                tokio::time::timeout(Duration::ZERO, call)
                    .await
                    .ok()
                    .map(classify)
            }
            // Retried, every attempt through the breaker.
            70..=84 => cancellable(cancel, retry.call(b, || dependency(&mut rng, fail_percent)))
                .await
                .map(|r| match r {
                    Ok(_) => Ok(()),
                    Err(e) => classify::<()>(Err(e.into_last_error())),
                }),
            // Three tiers: the breaker's, a second breaker's, and one that always answers.
            _ => {
                let tiers = [
                    Tier::new("soak_tier1", dependency(&mut rng, fail_percent)).breaker(b),
                    Tier::new("soak_tier2", dependency(&mut rng, fail_percent)).breaker(b2),
                    Tier::new("soak_tier3", async { Ok(3) }).unguarded(),
                ];
                cancellable(cancel, FallbackHandler::default().serve(tiers, "soak"))
                    .await
                    .map(|served| {
                        assert!(served.is_ok(), "the last tier always answers");
                        Ok(())
                    })
            }
        };
        match outcome {
            None => tally.cancelled += 1,
            Some(Ok(())) => tally.ok += 1,
            Some(Err(Some(()))) => tally.failed += 1,
            Some(Err(None)) => tally.rejected += 1,
        }
    }
    tally
}

/// `Ok`, a failure (`Err(Some)`), or a rejection (`Err(None)`).
fn classify<T>(r: Result<T, CallError<Fault>>) -> Result<(), Option<()>> {
    match r {
        Ok(_) => Ok(()),
        Err(CallError::Failed(_)) => Err(Some(())),
        Err(CallError::Rejected(_)) => Err(None),
    }
}

/// Every snapshot must be sane, whatever the calls are doing meanwhile.
#[track_caller]
fn assert_sane(b: &CircuitBreaker, m: &Metrics) {
    let c = b.config();
    assert!(
        (0.0..=1.0).contains(&m.error_rate),
        "{}: error_rate {}",
        b.name(),
        m.error_rate
    );
    assert!(m.total_calls <= c.window_size, "{}: {m:?}", b.name());
    match m.state {
        CircuitState::Closed => assert!(m.failure_count < c.failure_threshold, "{m:?}"),
        CircuitState::Open => assert!(m.failure_count >= 1, "{m:?}"),
        CircuitState::HalfOpen => assert!(m.success_count < c.success_threshold, "{m:?}"),
        other => panic!("{}: {other} without an operator", b.name()),
    }
    assert_eq!(
        m.time_until_retry.is_some(),
        m.state == CircuitState::Open,
        "{m:?}"
    );
}

/// Runs `calls` calls over [`TASKS`] tasks while a monitor checks metrics snapshots.
async fn phase(shared: &Arc<Shared>, seed: u64, calls: u64) -> (Tally, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = tokio::spawn({
        let (shared, stop) = (shared.clone(), stop.clone());
        async move {
            let mut samples = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for b in [&shared.b, &shared.b2] {
                    assert_sane(b, &b.metrics());
                }
                samples += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            samples
        }
    });
    let mut tasks = Vec::with_capacity(TASKS as usize);
    for t in 0..TASKS {
        let per_task = calls / TASKS + u64::from(t < calls % TASKS);
        tasks.push(tokio::spawn(one_task(
            shared.clone(),
            seed * 1_000 + t,
            per_task,
        )));
    }
    let mut tally = Tally::default();
    for task in tasks {
        tally.add(task.await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    (tally, monitor.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_million_calls_keep_the_breakers_sound_and_memory_flat() {
    let calls: u64 = match std::env::var("RESILIENCE_SOAK_CALLS") {
        Ok(v) => v
            .parse()
            .expect("RESILIENCE_SOAK_CALLS must be a whole number"),
        Err(_) => DEFAULT_CALLS,
    };
    // The counter sees allocations on any thread (the measurement can fail). Other threads may
    // allocate meanwhile, so by a margin: 8 MiB counted up, then down again.
    let before = live();
    let probe = std::thread::spawn(|| std::hint::black_box(vec![1u8; 8 << 20]))
        .join()
        .unwrap();
    let with_probe = live();
    drop(probe);
    let without = live();
    assert!(
        with_probe.1 - before.1 >= 7 << 20,
        "{before:?} {with_probe:?}"
    );
    assert!(
        with_probe.1 - without.1 >= 7 << 20,
        "{with_probe:?} {without:?}"
    );

    let (b, b2) = (breaker("soak_tier1"), breaker("soak_tier2"));
    let recorders = [
        Recorder::start(b.subscribe()),
        Recorder::start(b2.subscribe()),
    ];
    let shared = Arc::new(Shared {
        b,
        b2,
        retry: RetryPolicy::builder()
            .max_attempts(3)
            .base_delay(Duration::ZERO)
            .max_delay(Duration::ZERO)
            .jitter(false)
            .ignore_env()
            .build()
            .unwrap(),
        recorders,
    });

    // Warm-up: every lazily built thing (runtime queues, timers, tracing call sites, the
    // registry behind FallbackHandler::default) exists after it.
    let warm_up_calls = (calls / 10).max(20_000);
    let (warm_up, _) = phase(&shared, 1, warm_up_calls).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let after_warm_up = live();
    let allocations_before = ALLOCATIONS.load(Ordering::SeqCst);

    let started = Instant::now();
    let (soak, samples) = phase(&shared, 2, calls).await;
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let after_soak = live();
    let allocations = ALLOCATIONS.load(Ordering::SeqCst) - allocations_before;

    // Memory: flat, not proportional to the calls.
    let grown = (
        after_soak.0 - after_warm_up.0,
        after_soak.1 - after_warm_up.1,
    );
    let figures = format!(
        "soak: {} calls in {elapsed:.2?} = {:.0} calls/s over {TASKS} tasks; {:?}; \
         {samples} metrics samples; warm-up {} calls; live allocations after warm-up {} \
         ({} bytes), after soak {} ({} bytes): {:+} allocations, {:+} bytes; {allocations} \
         allocations made during the soak ({:.2} per call)",
        soak.calls,
        soak.calls as f64 / elapsed.as_secs_f64(),
        soak,
        warm_up.calls,
        after_warm_up.0,
        after_warm_up.1,
        after_soak.0,
        after_soak.1,
        grown.0,
        grown.1,
        allocations as f64 / soak.calls as f64,
    );
    println!("{figures}");
    assert!(
        grown.0 <= SLACK && grown.1 <= SLACK * 1024,
        "memory grew: {figures}"
    );

    // The run did what it claims.
    assert_eq!(soak.calls, calls);
    for n in [soak.ok, soak.failed, soak.rejected, soak.cancelled] {
        assert!(n > calls / 100, "{soak:?}");
    }
    assert!(samples >= 10, "{samples} metrics samples");

    // Every call is over: both breakers recover, and their paths were valid all along.
    let shared = Arc::into_inner(shared).expect("every task is over");
    for b in [&shared.b, &shared.b2] {
        assert_sane(b, &b.metrics());
        assert_recovers(b);
    }
    let [rec, rec2] = shared.recorders;
    for (b, path) in [(&shared.b, rec.finish()), (&shared.b2, rec2.finish())] {
        path.assert_valid(Operator::default(), CircuitState::Closed);
        let cycles = path.count(CircuitState::Open, CircuitState::HalfOpen);
        println!(
            "{}: {} state changes, {cycles} open -> half_open, {} half_open -> open, {} \
             half_open -> closed",
            b.name(),
            path.total(),
            path.count(CircuitState::HalfOpen, CircuitState::Open),
            path.count(CircuitState::HalfOpen, CircuitState::Closed),
        );
        assert!(cycles >= 10, "{}: only {cycles} recoveries", b.name());
    }
}
