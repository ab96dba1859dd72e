//! `resilience::tower::RetryLayer` on virtual time: HTTP responses, `Retry-After`, the retry
//! budget, and the refusals of the layers it wraps.
#![cfg(feature = "tower")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::limit::{RateLimitedError, RateLimiter};
use resilience::tower::{CircuitBreakerLayer, RateLimitLayer, RetryHttp, RetryLayer, TpsBudget};
use resilience::{BoxError, CircuitBreaker, RetryPolicy, Verdict};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .ignore_env()
        .max_attempts(max_attempts)
        .base_delay(Duration::from_millis(100))
        .jitter(false)
        .build()
        .unwrap()
}

/// A server answering the statuses in `script` in turn (the last one ever after), each with
/// `retry_after` as its `Retry-After` header when given; counts and times its calls.
#[derive(Clone)]
struct Script {
    statuses: Arc<Vec<u16>>,
    retry_after: Option<&'static str>,
    calls: Arc<std::sync::Mutex<Vec<Duration>>>,
    start: Instant,
}

impl Script {
    fn new(statuses: &[u16], retry_after: Option<&'static str>) -> Self {
        Script {
            statuses: Arc::new(statuses.to_vec()),
            retry_after,
            calls: Arc::default(),
            start: Instant::now(),
        }
    }

    fn calls(&self) -> Vec<Duration> {
        self.calls.lock().unwrap().clone()
    }

    fn service(
        &self,
    ) -> impl Service<String, Response = http::Response<String>, Error = BoxError, Future: Send>
    + Clone
    + use<> {
        let script = self.clone();
        service_fn(move |path: String| {
            let mut calls = script.calls.lock().unwrap();
            let n = calls.len();
            calls.push(script.start.elapsed());
            let status = script.statuses[n.min(script.statuses.len() - 1)];
            let mut response = http::Response::builder().status(status);
            if let Some(v) = script.retry_after {
                response = response.header(http::header::RETRY_AFTER, v);
            }
            let response = response.body(path).map_err(BoxError::from);
            async move { response }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_503_is_retried_after_the_backoff_then_succeeds() {
    let server = Script::new(&[503, 200], None);
    let svc = RetryLayer::new(policy(3))
        .classifier(RetryHttp)
        .layer(server.service());
    let response = svc.oneshot("/accounts/42".to_owned()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.body(),
        "/accounts/42",
        "each attempt gets the request"
    );
    assert_eq!(server.calls(), [Duration::ZERO, Duration::from_millis(100)]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_2_on_a_response_is_waited_on_virtual_time() {
    let server = Script::new(&[503, 429, 200], Some("2"));
    let svc = RetryLayer::new(policy(3))
        .classifier(RetryHttp)
        .layer(server.service());
    let response = svc.oneshot("/".to_owned()).await.unwrap();
    assert_eq!(response.status(), 200);
    let secs = Duration::from_secs;
    assert_eq!(server.calls(), [secs(0), secs(2), secs(4)]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_longer_than_max_delay_returns_the_response_at_once() {
    let server = Script::new(&[503], Some("3600"));
    let svc = RetryLayer::new(policy(5))
        .classifier(RetryHttp)
        .layer(server.service());
    let started = Instant::now();
    let response = svc.oneshot("/".to_owned()).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(server.calls().len(), 1, "never before the server said");
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_404_is_never_retried() {
    let server = Script::new(&[404, 200], None);
    let svc = RetryLayer::new(policy(3))
        .classifier(RetryHttp)
        .layer(server.service());
    let response = svc.oneshot("/accounts/0".to_owned()).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(server.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_attempts_are_spent_and_the_last_outcome_returned() {
    let server = Script::new(&[503], None);
    let svc = RetryLayer::new(policy(3))
        .classifier(RetryHttp)
        .layer(server.service());
    let response = svc.oneshot("/".to_owned()).await.unwrap();
    assert_eq!(response.status(), 503);
    let ms = Duration::from_millis;
    assert_eq!(server.calls(), [ms(0), ms(100), ms(300)]);
}

/// A budget with no reserve and no share of the requests: nothing is ever retried.
#[tokio::test(start_paused = true)]
async fn an_empty_retry_budget_stops_the_retries() {
    let server = Script::new(&[503, 200], None);
    let svc = RetryLayer::new(policy(3))
        .classifier(RetryHttp)
        .tps_budget(Duration::from_secs(1), 0, 0.0)
        .unwrap()
        .layer(server.service());
    let response = svc.oneshot("/".to_owned()).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(server.calls().len(), 1);
}

/// One budget shared by the clones: a reserve of one retry a second is spent by the first
/// request; the second request is not retried until the second has passed.
#[tokio::test(start_paused = true)]
async fn the_retry_budget_is_shared_and_refills() {
    let server = Script::new(&[503], None);
    let budget = Arc::new(TpsBudget::new(Duration::from_secs(1), 1, 0.0));
    let svc = RetryLayer::new(policy(2))
        .classifier(RetryHttp)
        .budget(Arc::clone(&budget))
        .layer(server.service());
    svc.clone().oneshot("/".to_owned()).await.unwrap();
    assert_eq!(server.calls().len(), 2, "the reserve pays for one retry");
    svc.clone().oneshot("/".to_owned()).await.unwrap();
    assert_eq!(server.calls().len(), 3, "the budget is spent");
    tokio::time::advance(Duration::from_secs(2)).await;
    svc.clone().oneshot("/".to_owned()).await.unwrap();
    assert_eq!(server.calls().len(), 5, "a second later, it pays again");
}

/// Without a budget, only the policy limits the retries; the default budget allows 10 a
/// second of its own.
#[tokio::test(start_paused = true)]
async fn the_default_budget_allows_a_few_retries_and_none_is_unlimited() {
    let layer = RetryLayer::new(policy(2));
    assert!(layer.retry_budget().is_some());
    assert!(layer.clone().without_budget().retry_budget().is_none());
    let server = Script::new(&[503], None);
    let svc = RetryLayer::new(policy(2))
        .classifier(RetryHttp)
        .layer(server.service());
    // 150 requests at once, all failing: their retries are decided at the same instant.
    let requests: Vec<_> = (0..150)
        .map(|_| tokio::spawn(svc.clone().oneshot("/".to_owned())))
        .collect();
    for request in requests {
        request.await.unwrap().unwrap();
    }
    // 10 a second for 10 s in reserve, plus one for five requests (30 of 150); the budget
    // refuses the other 20.
    let calls = server.calls().len();
    assert_eq!(calls, 150 + 100 + 30, "{calls} calls");
}

#[test]
fn a_budget_setting_out_of_range_is_an_error_naming_it() {
    let layer = || RetryLayer::new(RetryPolicy::default());
    let err = layer()
        .tps_budget(Duration::from_millis(500), 10, 0.2)
        .unwrap_err();
    assert_eq!((err.input(), err.value()), ("ttl", "500ms"));
    let err = layer()
        .tps_budget(Duration::from_secs(10), 10, -1.0)
        .unwrap_err();
    assert_eq!((err.input(), err.value()), ("retry_percent", "-1"));
    let err = layer()
        .tps_budget(Duration::from_secs(10), 10, f32::NAN)
        .unwrap_err();
    assert_eq!(err.input(), "retry_percent");
    let err = layer()
        .tps_budget(Duration::from_secs(10), u32::MAX, 0.2)
        .unwrap_err();
    assert_eq!(err.input(), "min_per_sec");
    assert!(
        layer()
            .tps_budget(Duration::from_secs(60), 0, 1000.0)
            .is_ok()
    );
}

/// Errors are retried by default; a classifier can say otherwise.
#[tokio::test(start_paused = true)]
async fn errors_are_retried_and_a_closure_decides_otherwise() {
    let calls = Arc::new(AtomicU32::new(0));
    let flaky = {
        let calls = Arc::clone(&calls);
        service_fn(move |id: u32| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n % 3 < 2 {
                    Err(std::io::Error::other("reset"))
                } else {
                    Ok(id)
                }
            }
        })
    };
    let svc = RetryLayer::new(policy(3)).layer(flaky.clone());
    assert_eq!(svc.oneshot(7).await.unwrap(), 7);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let never = RetryLayer::new(policy(3))
        .classify(|_: &Result<u32, std::io::Error>| Verdict::Stop)
        .layer(flaky);
    assert_eq!(never.oneshot(7).await.unwrap_err().to_string(), "reset");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

/// retry(rate limit(service)): the limiter's refusal is waited out for exactly its
/// `retry_after`, and the retry passes.
#[tokio::test(start_paused = true)]
async fn a_rate_limit_refusal_is_retried_after_its_retry_after() {
    let credits = Arc::new(
        RateLimiter::builder("retry_layer_rl", 1, Duration::from_secs(3))
            .ignore_env()
            .build()
            .unwrap(),
    );
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy(3)))
        .layer(RateLimitLayer::new(Arc::clone(&credits)))
        .service(service_fn(|id: u32| async move { Ok::<_, BoxError>(id) }));
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
    let started = Instant::now();
    assert_eq!(svc.clone().oneshot(2).await.unwrap(), 2);
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(credits.metrics().refused, 1);
}

/// A refusal whose `retry_after` does not fit within `max_delay` is returned at once.
#[tokio::test(start_paused = true)]
async fn a_rate_limit_refusal_too_long_to_wait_is_returned() {
    let credits = Arc::new(
        RateLimiter::builder("retry_layer_long", 1, Duration::from_secs(3600))
            .ignore_env()
            .build()
            .unwrap(),
    );
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy(3)))
        .layer(RateLimitLayer::new(Arc::clone(&credits)))
        .service(service_fn(|id: u32| async move { Ok::<_, BoxError>(id) }));
    svc.clone().oneshot(1).await.unwrap();
    let started = Instant::now();
    let err = svc.clone().oneshot(2).await.unwrap_err();
    assert!(err.is::<RateLimitedError>());
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(credits.metrics().refused, 1, "asked once");
}

/// retry(breaker(service)): an open breaker's rejection waits out its recovery timeout instead
/// of backing off into it; a forced-open one is not retried.
#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_waited_out_and_a_forced_open_one_is_not_retried() {
    let b = Arc::new(
        CircuitBreaker::builder("retry_layer_cb")
            .ignore_env()
            .failure_threshold(1)
            .recovery_timeout(Duration::from_secs(20))
            .success_threshold(1)
            .build()
            .unwrap(),
    );
    let calls = Arc::new(AtomicU32::new(0));
    let inner = {
        let calls = Arc::clone(&calls);
        service_fn(move |id: u32| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err::<u32, BoxError>("down".into())
                } else {
                    Ok(id)
                }
            }
        })
    };
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy(3)))
        .layer(CircuitBreakerLayer::new(Arc::clone(&b)))
        .service(inner);
    let started = Instant::now();
    // Fails (opens the breaker), rejected 100 ms later (open for 19.9 s more), then waited.
    assert_eq!(svc.clone().oneshot(5).await.unwrap(), 5);
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    b.force_open();
    let started = Instant::now();
    let err = svc.clone().oneshot(6).await.unwrap_err();
    assert!(err.is_rejected());
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "forced open: not retried"
    );
}
