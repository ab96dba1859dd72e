//! The limits beside their peers: the rate limiter against `governor`'s direct limiter, the
//! bulkhead against tokio's `Semaphore` and tower's `ConcurrencyLimit`, the timeout against
//! `tokio::time::timeout`. Every benchmark id is `<shape>/<library>`; `BENCHMARKS.md` has the
//! table.
//!
//! Each limit's attribute (`resilience_attribute`) runs beside the runtime call it stands for
//! (`resilience_run`: the same future, awaited in place), which it should cost at most 1.1x.

use std::convert::Infallible;
use std::future::ready;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use governor::{Quota, RateLimiter as Governor};
use resilience::limit::{Bulkhead, RateLimiter, Timeout};
use resilience::{Error, bulkhead, rate_limit, timeout};
use resilience_benches::block_on;
use tower::{Service, ServiceExt};

/// A rate every call stays under: one token a nanosecond, a second's worth of burst. The
/// shapes measure an admitted call, the path a healthy service takes.
const RATE: u32 = 1_000_000_000;

fn limiter() -> RateLimiter {
    RateLimiter::builder("bench_rate", u64::from(RATE), Duration::from_secs(1))
        .burst(RATE)
        .build()
        .expect("valid")
}

fn governor() -> governor::DefaultDirectRateLimiter {
    Governor::direct(Quota::per_second(NonZeroU32::new(RATE).expect("non-zero")))
}

#[rate_limit(
    name = "bench_rate_attribute",
    rate = 1_000_000_000,
    per = "1s",
    burst = 1_000_000_000
)]
async fn rate_limited(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[bulkhead(name = "bench_bulkhead_attribute", max_concurrent = 15)]
async fn in_a_slot(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[timeout("5s")]
async fn timed(x: u64) -> Result<u64, Error> {
    Ok(x)
}

/// One admitted check; and one admitted call, by the attribute and by the runtime's `run`.
fn rate_limit(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit");
    let ours = limiter();
    group.bench_function("resilience", |b| {
        b.iter(|| black_box(ours.try_acquire().is_ok()))
    });
    group.bench_function("resilience_run", |b| {
        b.iter(|| black_box(block_on(ours.run(ready(black_box(7u64)))).expect("admitted")))
    });
    group.bench_function("resilience_attribute", |b| {
        b.iter(|| black_box(block_on(rate_limited(black_box(7))).expect("admitted")))
    });
    let theirs = governor();
    group.bench_function("governor", |b| b.iter(|| black_box(theirs.check().is_ok())));
    group.finish();
}

/// Runs `call` `iters` times on each of two threads started together; the mean time of a
/// thread.
fn on_two_threads(iters: u64, call: &(dyn Fn() + Sync)) -> Duration {
    let barrier = Barrier::new(2);
    let total: Duration = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        call();
                    }
                    start.elapsed()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("no panic"))
            .sum()
    });
    total / 2
}

/// One admitted check by each of two threads sharing one limiter.
fn rate_limit_contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit_contended");
    let ours = limiter();
    group.bench_function("resilience", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, &|| {
                black_box(ours.try_acquire().is_ok());
            })
        })
    });
    let theirs = governor();
    group.bench_function("governor", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, &|| {
                black_box(theirs.check().is_ok());
            })
        })
    });
    group.finish();
}

/// A slot taken and freed, nobody waiting; and a call in a slot, by the attribute and by the
/// runtime's `run`.
fn bulkhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("bulkhead");
    let ours = Bulkhead::builder("bench_bulkhead")
        .max_concurrent(15)
        .build()
        .expect("valid");
    group.bench_function("resilience", |b| {
        b.iter(|| drop(black_box(ours.try_acquire().expect("a free slot"))))
    });
    group.bench_function("resilience_run", |b| {
        b.iter(|| black_box(block_on(ours.run(ready(black_box(7u64)))).expect("a free slot")))
    });
    group.bench_function("resilience_attribute", |b| {
        b.iter(|| black_box(block_on(in_a_slot(black_box(7))).expect("a free slot")))
    });
    let semaphore = tokio::sync::Semaphore::new(15);
    group.bench_function("tokio_semaphore", |b| {
        b.iter(|| drop(black_box(semaphore.try_acquire().expect("a free permit"))))
    });
    let mut limited = tower::limit::ConcurrencyLimit::new(
        tower::service_fn(|x: u64| ready(Ok::<_, Infallible>(x))),
        15,
    );
    group.bench_function("tower_concurrency_limit", |b| {
        b.iter(|| {
            block_on(async {
                let service = limited.ready().await.expect("infallible");
                black_box(service.call(black_box(7)).await.expect("infallible"))
            })
        })
    });
    group.finish();
}

/// A future that is ready at once, under a time limit, by the runtime (`resilience`) and by the
/// attribute.
fn timeout(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let _context = runtime.enter();
    let mut group = c.benchmark_group("timeout");
    let ours = Timeout::new(Duration::from_secs(5)).expect("valid");
    group.bench_function("resilience", |b| {
        b.iter(|| black_box(block_on(ours.run(ready(black_box(7u64)))).expect("in time")))
    });
    group.bench_function("resilience_attribute", |b| {
        b.iter(|| black_box(block_on(timed(black_box(7))).expect("in time")))
    });
    group.bench_function("tokio", |b| {
        b.iter(|| {
            let limited = tokio::time::timeout(Duration::from_secs(5), ready(black_box(7u64)));
            black_box(block_on(limited).expect("in time"))
        })
    });
    group.finish();
}

criterion_group!(benches, rate_limit, rate_limit_contended, bulkhead, timeout);
criterion_main!(benches);
