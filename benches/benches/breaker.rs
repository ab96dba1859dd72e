//! This crate's breaker and its peers on the same shapes, with the same configuration, polled by
//! the same executor. The table and how to read it: `BENCHMARKS.md` at the workspace root.
//!
//! Every benchmark id is `<shape>/<library>`; `resilience_attr` is this crate's breaker through
//! `#[circuit_breaker]`. A peer without a sync API is measured through its async API in the sync
//! shapes too (that is all a caller of it can do).

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use resilience::{FallbackHandler, RetryPolicy, Tier};
use resilience_benches::{
    Attribute, AttributeProbe, Calls, GUARDED, HALF_OPEN_CHUNK, Permits, Subject, THREADS,
    block_on, full_stack, operation, retried, secondary, with_fallback,
};

#[path = "../shared/peers.rs"]
mod peers;

use peers::{FailsafeAsync, FailsafeSync, RecloserAsync, RecloserSync, Tower};

/// Every call admitted and successful.
fn closed_success<S: Subject>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut subject = S::closed();
    group.bench_function(S::NAME, |b| b.iter(|| subject.call(black_box(false))));
}

/// Success and failure in turn: counted, never tripping.
fn closed_failure<S: Subject>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut subject = S::closed();
    let mut fail = false;
    group.bench_function(S::NAME, |b| {
        b.iter(|| {
            fail = !fail;
            subject.call(black_box(fail))
        })
    });
    assert_ne!(subject.call(false), resilience_benches::Outcome::Rejected);
}

/// Every call refused by an open breaker.
fn open_reject<S: Subject>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut subject = S::tripped();
    group.bench_function(S::NAME, |b| b.iter(|| subject.call(black_box(false))));
}

/// Successful probes through a half-open breaker that stays half-open; a fresh one (untimed)
/// every [`HALF_OPEN_CHUNK`] calls.
fn half_open<S: Subject>(group: &mut BenchmarkGroup<'_, WallTime>) {
    if S::half_open().is_none() {
        return;
    }
    group.bench_function(S::NAME, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(HALF_OPEN_CHUNK);
                let mut subject = S::half_open().expect("expressible");
                let start = Instant::now();
                for _ in 0..chunk {
                    black_box(subject.call(black_box(false)));
                }
                total += start.elapsed();
                left -= chunk;
            }
            total
        })
    });
}

/// Runs `call` `iters` times on each of [`THREADS`] threads started together; the mean time of
/// a thread.
fn on_threads<T: Send>(iters: u64, mut handle: impl FnMut() -> T, call: fn(&mut T)) -> Duration {
    let barrier = Barrier::new(THREADS);
    let total: Duration = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let mut handle = handle();
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        call(&mut handle);
                    }
                    start.elapsed()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    });
    total / THREADS as u32
}

/// [`THREADS`] threads calling one shared closed breaker: time per call per thread.
fn contended<S: Subject>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let subject = S::closed();
    group.bench_function(S::NAME, |b| {
        b.iter_custom(|iters| {
            on_threads(
                iters,
                || subject.share(),
                |s| {
                    black_box(s.call(black_box(false)));
                },
            )
        })
    });
}

fn baseline(c: &mut Criterion) {
    let mut group = c.benchmark_group("baseline");
    group.bench_function("inlined_ok", |b| b.iter(|| operation(black_box(false))));
    let counter = AtomicU64::new(0);
    group.bench_function("atomic_fetch_add", |b| {
        b.iter(|| counter.fetch_add(1, Ordering::AcqRel))
    });
    group.finish();
}

fn shapes(c: &mut Criterion) {
    let mut group = c.benchmark_group("closed_success");
    closed_success::<Permits>(&mut group);
    closed_success::<FailsafeSync>(&mut group);
    closed_success::<RecloserSync>(&mut group);
    closed_success::<Tower>(&mut group);
    group.finish();

    let mut group = c.benchmark_group("closed_success_async");
    closed_success::<Calls>(&mut group);
    closed_success::<Attribute>(&mut group);
    closed_success::<FailsafeAsync>(&mut group);
    closed_success::<RecloserAsync>(&mut group);
    closed_success::<Tower>(&mut group);
    group.finish();

    let mut group = c.benchmark_group("closed_failure");
    closed_failure::<Permits>(&mut group);
    closed_failure::<FailsafeSync>(&mut group);
    closed_failure::<RecloserSync>(&mut group);
    closed_failure::<Tower>(&mut group);
    group.finish();

    let mut group = c.benchmark_group("closed_failure_async");
    closed_failure::<Calls>(&mut group);
    closed_failure::<Attribute>(&mut group);
    closed_failure::<FailsafeAsync>(&mut group);
    closed_failure::<RecloserAsync>(&mut group);
    closed_failure::<Tower>(&mut group);
    group.finish();

    let mut group = c.benchmark_group("open_reject");
    open_reject::<Permits>(&mut group);
    open_reject::<FailsafeSync>(&mut group);
    open_reject::<RecloserSync>(&mut group);
    open_reject::<Tower>(&mut group);
    group.finish();

    let mut group = c.benchmark_group("open_reject_async");
    open_reject::<Calls>(&mut group);
    open_reject::<Attribute>(&mut group);
    open_reject::<FailsafeAsync>(&mut group);
    open_reject::<RecloserAsync>(&mut group);
    open_reject::<Tower>(&mut group);
    group.finish();

    let mut group = c.benchmark_group("half_open");
    half_open::<Permits>(&mut group);
    half_open::<FailsafeSync>(&mut group);
    half_open::<RecloserSync>(&mut group);
    half_open::<Tower>(&mut group);
    group.finish();

    let mut group = c.benchmark_group("half_open_async");
    half_open::<Calls>(&mut group);
    half_open::<AttributeProbe>(&mut group);
    half_open::<FailsafeAsync>(&mut group);
    half_open::<RecloserAsync>(&mut group);
    half_open::<Tower>(&mut group);
    group.finish();

    let mut group = c.benchmark_group("contended");
    let counter = AtomicU64::new(0);
    group.bench_function("atomic_fetch_add", |b| {
        b.iter_custom(|iters| {
            on_threads(
                iters,
                || &counter,
                |c| {
                    black_box(c.fetch_add(1, Ordering::AcqRel));
                },
            )
        })
    });
    contended::<Permits>(&mut group);
    contended::<FailsafeSync>(&mut group);
    contended::<RecloserSync>(&mut group);
    contended::<Tower>(&mut group);
    group.finish();

    let mut group = c.benchmark_group("contended_async");
    contended::<Calls>(&mut group);
    contended::<Attribute>(&mut group);
    contended::<FailsafeAsync>(&mut group);
    contended::<RecloserAsync>(&mut group);
    contended::<Tower>(&mut group);
    group.finish();
}

/// The other attributes on the success path, next to the runtime calls they stand for, and the
/// registry's lookup by name.
fn composition(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry_success");
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .base_delay(Duration::from_secs(1))
        .build()
        .expect("a valid policy");
    group.bench_function("resilience", |b| {
        b.iter(|| block_on(policy.execute(|| async { operation(black_box(false)) })))
    });
    group.bench_function("resilience_attr", |b| {
        b.iter(|| block_on(retried(black_box(false))))
    });
    group.finish();

    let mut group = c.benchmark_group("fallback_success");
    let handler = FallbackHandler::default();
    group.bench_function("resilience", |b| {
        b.iter(|| {
            let fail = black_box(false);
            block_on(handler.execute_with_fallback(
                [
                    Tier::new("primary", async move { operation(fail) }).unguarded(),
                    Tier::new("secondary", secondary(fail)).unguarded(),
                ],
                "bench_fallback",
            ))
        })
    });
    group.bench_function("resilience_attr", |b| {
        b.iter(|| block_on(with_fallback(black_box(false))))
    });
    group.finish();

    let mut group = c.benchmark_group("full_stack_success");
    group.bench_function("resilience_attr", |b| {
        b.iter(|| block_on(full_stack(black_box(false))))
    });
    group.finish();

    let mut group = c.benchmark_group("registry_get");
    Attribute::closed(); // registers GUARDED
    group.bench_function("resilience", |b| {
        b.iter(|| resilience::registry().get(black_box(GUARDED)))
    });
    group.finish();
}

criterion_group!(benches, baseline, shapes, composition);
criterion_main!(benches);
