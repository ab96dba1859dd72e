//! The tower layers of `resilience::tower` beside tower's own, each around a service that is
//! ready and answers at once: the bulkhead against `ConcurrencyLimit`, the rate limit against
//! `RateLimit`, the retry layer (on a call that succeeds, so never retried) against `Retry` with
//! a policy that never retries, each with and without a `TpsBudget`. Every benchmark id is
//! `<shape>/<library>`.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::RetryPolicy;
use resilience::limit::{Bulkhead, RateLimiter};
use resilience::tower::{BulkheadLayer, RateLimitLayer, RetryLayer};
use resilience_benches::block_on;
use tower::retry::budget::{Budget, TpsBudget};
use tower::{Layer, Service, ServiceExt, service_fn};

/// A rate every call stays under: one token a nanosecond, a second's worth of burst.
const RATE: u32 = 1_000_000_000;

/// The inner service: ready, and answers at once.
fn echo()
-> impl Service<u64, Response = u64, Error = Infallible, Future = Ready<Result<u64, Infallible>>> + Clone
{
    service_fn(|x: u64| ready(Ok::<_, Infallible>(x)))
}

/// One call through `svc`: ready, then called, on a no-op waker.
fn one_call<S>(svc: &mut S) -> u64
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    block_on(async {
        let ready = svc.ready().await.expect("ready");
        ready.call(black_box(7)).await.expect("answered")
    })
}

/// A call in a slot, nobody waiting.
fn bulkhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("tower_bulkhead");
    let org = Arc::new(
        Bulkhead::builder("bench_tower_bulkhead")
            .max_concurrent(15)
            .build()
            .expect("valid"),
    );
    let mut ours = BulkheadLayer::new(org).layer(echo());
    group.bench_function("resilience", |b| b.iter(|| black_box(one_call(&mut ours))));
    let mut theirs = tower::limit::ConcurrencyLimit::new(echo(), 15);
    group.bench_function("tower_concurrency_limit", |b| {
        b.iter(|| black_box(one_call(&mut theirs)))
    });
    group.finish();
}

/// An admitted call.
fn rate_limit(c: &mut Criterion) {
    // tower's `RateLimit` makes its timer when it is built.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let _context = runtime.enter();
    let mut group = c.benchmark_group("tower_rate_limit");
    let limiter = Arc::new(
        RateLimiter::builder("bench_tower_rate", u64::from(RATE), Duration::from_secs(1))
            .burst(RATE)
            .build()
            .expect("valid"),
    );
    let mut ours = RateLimitLayer::new(limiter).layer(echo());
    group.bench_function("resilience", |b| b.iter(|| black_box(one_call(&mut ours))));
    let rate = tower::limit::rate::Rate::new(u64::from(RATE), Duration::from_secs(1));
    let mut theirs = tower::limit::RateLimit::new(echo(), rate);
    group.bench_function("tower_rate_limit", |b| {
        b.iter(|| black_box(one_call(&mut theirs)))
    });
    group.finish();
}

/// tower's `Retry` with the least a policy can do: clone the request, never retry; with a
/// budget, deposit for every answer, as tower's documentation shows.
#[derive(Clone)]
struct NeverRetry {
    budget: Option<Arc<TpsBudget>>,
}

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for NeverRetry {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match (&self.budget, result) {
            (Some(budget), Ok(_)) => {
                budget.deposit();
                None
            }
            (Some(budget), Err(_)) => budget.withdraw().then(|| ready(())),
            (None, _) => None,
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// A call that succeeds at once, so is never retried: the cost of being ready to retry.
fn retry(c: &mut Criterion) {
    let mut group = c.benchmark_group("tower_retry");
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .build()
        .expect("valid");
    let mut ours = RetryLayer::new(policy.clone()).layer(echo());
    group.bench_function("resilience_tps_budget", |b| {
        b.iter(|| black_box(one_call(&mut ours)))
    });
    let mut ours = RetryLayer::new(policy).without_budget().layer(echo());
    group.bench_function("resilience", |b| b.iter(|| black_box(one_call(&mut ours))));
    let budget = Some(Arc::new(TpsBudget::default()));
    let mut theirs = tower::retry::Retry::new(NeverRetry { budget }, echo());
    group.bench_function("tower_retry_tps_budget", |b| {
        b.iter(|| black_box(one_call(&mut theirs)))
    });
    let mut theirs = tower::retry::Retry::new(NeverRetry { budget: None }, echo());
    group.bench_function("tower_retry", |b| {
        b.iter(|| black_box(one_call(&mut theirs)))
    });
    group.finish();
}

criterion_group!(benches, bulkhead, rate_limit, retry);
criterion_main!(benches);
