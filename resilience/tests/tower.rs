//! `resilience::tower` against a real HTTP server on 127.0.0.1.
#![cfg(feature = "tower")]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use resilience::tower::{CircuitBreakerLayer, Error, ServerErrors};
use resilience::{CircuitBreaker, CircuitState};
use tower::{Layer, Service, ServiceExt};

/// What the server answers, and how many requests reached it.
#[derive(Default)]
struct Cue {
    status: AtomicU16,
    delay_ms: AtomicU64,
    hits: AtomicUsize,
}

impl Cue {
    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn handler(State(cue): State<Arc<Cue>>) -> StatusCode {
    cue.hits.fetch_add(1, Ordering::SeqCst);
    let delay = cue.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    StatusCode::from_u16(cue.status.load(Ordering::SeqCst)).unwrap()
}

async fn server() -> (SocketAddr, Arc<Cue>) {
    let cue = Arc::new(Cue::default());
    cue.answer(200);
    let app = Router::new()
        .route("/", get(handler))
        .with_state(Arc::clone(&cue));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, cue)
}

/// A client service: `GET url` with reqwest, answered as an `http::Response<()>`.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("http://{addr}/"),
        }
    }
}

impl Service<()> for Client {
    type Response = http::Response<()>;
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        let request = self.http.get(&self.url);
        Box::pin(async move {
            let response = request.send().await?;
            Ok(http::Response::builder()
                .status(response.status())
                .body(())
                .unwrap())
        })
    }
}

fn breaker(name: &'static str) -> Arc<CircuitBreaker> {
    Arc::new(
        CircuitBreaker::builder(name)
            .ignore_env()
            .failure_threshold(3)
            .recovery_timeout(Duration::from_secs(60))
            .half_open_max_calls(1)
            .success_threshold(1)
            .build()
            .unwrap(),
    )
}

async fn get_status<S>(svc: &mut S) -> Result<u16, Error<reqwest::Error>>
where
    S: Service<(), Response = http::Response<()>, Error = Error<reqwest::Error>>,
{
    let response = svc.ready().await?.call(()).await?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn three_503s_open_the_breaker_and_later_calls_never_reach_the_server() {
    let (addr, cue) = server().await;
    let breaker = breaker("tower_503");
    let mut svc = CircuitBreakerLayer::new(Arc::clone(&breaker))
        .classifier(ServerErrors)
        .layer(Client::new(addr));

    cue.answer(503);
    for _ in 0..3 {
        assert_eq!(get_status(&mut svc).await.unwrap(), 503);
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(cue.hits(), 3);

    cue.answer(200);
    for _ in 0..2 {
        let err = get_status(&mut svc).await.unwrap_err();
        let rejection = err.as_rejected().expect("rejected by the breaker");
        assert_eq!(rejection.circuit_name(), "tower_503");
        assert!(rejection.retry_after().is_some());
    }
    assert_eq!(cue.hits(), 3, "rejected calls must not reach the server");
}

#[tokio::test]
async fn responses_404_are_not_failures() {
    let (addr, cue) = server().await;
    let breaker = breaker("tower_404");
    let mut svc = CircuitBreakerLayer::new(Arc::clone(&breaker))
        .classifier(ServerErrors)
        .layer(Client::new(addr));

    cue.answer(404);
    for _ in 0..5 {
        assert_eq!(get_status(&mut svc).await.unwrap(), 404);
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.metrics().failure_count, 0);
    assert_eq!(cue.hits(), 5);

    // Two 503s, a 404 (the server answered: a success), two more 503s: never three in a row.
    for status in [503, 503, 404, 503, 503] {
        cue.answer(status);
        assert_eq!(get_status(&mut svc).await.unwrap(), status);
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(cue.hits(), 10);
}

#[tokio::test]
async fn transport_errors_are_failures() {
    // A port nobody listens on.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let breaker = breaker("tower_transport");
    let mut svc = CircuitBreakerLayer::new(Arc::clone(&breaker))
        .classifier(ServerErrors)
        .layer(Client::new(addr));

    for _ in 0..3 {
        let err = get_status(&mut svc).await.unwrap_err();
        assert!(matches!(err, Error::Inner(_)), "{err:?}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    assert!(get_status(&mut svc).await.unwrap_err().is_rejected());
}

#[tokio::test]
async fn a_future_dropped_in_flight_while_half_open_frees_its_slot() {
    let (addr, cue) = server().await;
    let breaker = breaker("tower_half_open");
    let mut svc = CircuitBreakerLayer::new(Arc::clone(&breaker))
        .classifier(ServerErrors)
        .layer(Client::new(addr));

    cue.answer(503);
    for _ in 0..3 {
        get_status(&mut svc).await.unwrap();
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    assert!(breaker.try_half_open());

    // The only probe slot goes to a slow call, abandoned after 50 ms.
    cue.answer(200);
    cue.delay_ms.store(1_000, Ordering::SeqCst);
    let slow = tokio::time::timeout(Duration::from_millis(50), get_status(&mut svc)).await;
    assert!(slow.is_err(), "the slow call should have timed out");
    assert_eq!(cue.hits(), 4, "the probe reached the server");
    assert_eq!(breaker.state(), CircuitState::HalfOpen);

    // The slot is free again: the next probe is admitted, succeeds and closes the breaker.
    cue.delay_ms.store(0, Ordering::SeqCst);
    assert_eq!(get_status(&mut svc).await.unwrap(), 200);
    assert_eq!(cue.hits(), 5);
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test]
async fn while_a_probe_is_in_flight_other_calls_are_rejected() {
    let breaker = breaker("tower_probe_busy");
    for _ in 0..3 {
        breaker.try_acquire().unwrap().record_failure();
    }
    assert!(breaker.try_half_open());

    let layer = CircuitBreakerLayer::new(Arc::clone(&breaker));
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let mut svc = layer.layer(tower::service_fn(move |()| {
        counted.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<Result<(), std::io::Error>>()
    }));

    let probe = svc.ready().await.unwrap().call(());
    let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(
        err.as_rejected().and_then(|e| e.retry_after()),
        Some(Duration::ZERO)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    drop(probe);
    let _admitted = svc.ready().await.unwrap().call(());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn named_layers_share_the_registry_breaker() {
    let a = CircuitBreakerLayer::named("tower_registry").unwrap();
    let b = CircuitBreakerLayer::named("tower_registry").unwrap();
    assert!(Arc::ptr_eq(a.breaker(), b.breaker()));
    assert!(Arc::ptr_eq(
        a.breaker(),
        &resilience::registry().get("tower_registry").unwrap()
    ));
}

#[tokio::test]
async fn a_closure_classifier_decides_what_fails() {
    let breaker = breaker("tower_closure");
    // Only `Err(503)` is a failure; `Err(404)` means the dependency answered.
    let mut svc = CircuitBreakerLayer::new(Arc::clone(&breaker))
        .classify(|r: &Result<(), u16>| matches!(r, Err(503)))
        .layer(tower::service_fn(|status: u16| async move {
            if status == 200 { Ok(()) } else { Err(status) }
        }));

    for _ in 0..5 {
        let err = svc.ready().await.unwrap().call(404).await.unwrap_err();
        assert_eq!(err, Error::Inner(404));
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    for _ in 0..3 {
        svc.ready().await.unwrap().call(503).await.unwrap_err();
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    assert!(
        svc.ready()
            .await
            .unwrap()
            .call(200)
            .await
            .unwrap_err()
            .is_rejected()
    );
}

// ---------------------------------------------------------------------------------------------
// Composition with tower's own layers, whose error is tower's `BoxError`
// ---------------------------------------------------------------------------------------------

/// A dependency that answers after `delay` (on tokio's clock): `Ok(id)`, or an I/O error for 0.
fn slow_service(
    delay: Duration,
) -> impl Service<u32, Response = u32, Error = std::io::Error, Future: Send> + Clone {
    tower::service_fn(move |id: u32| async move {
        tokio::time::sleep(delay).await;
        if id == 0 {
            Err(std::io::Error::other("no such account"))
        } else {
            Ok(id)
        }
    })
}

/// `?` into `anyhow`, as an application's handler would.
async fn via_anyhow<S>(svc: &mut S, id: u32) -> anyhow::Result<u32>
where
    S: Service<u32, Response = u32>,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    Ok(svc.ready().await?.call(id).await?)
}

/// `?` into tower's `BoxError`, as a layer above would.
async fn via_box_error<S>(svc: &mut S, id: u32) -> Result<u32, tower::BoxError>
where
    S: Service<u32, Response = u32>,
    S::Error: Into<tower::BoxError>,
{
    let ready = svc.ready().await.map_err(Into::into)?;
    let response = ready.call(id).await.map_err(Into::into)?;
    Ok(response)
}

/// The breaker outside `.timeout()`: it sees a timed-out call as a failure, and its error (over
/// tower's `BoxError`) goes on into `anyhow` and into a layer that wants `Into<BoxError>`.
#[tokio::test(start_paused = true)]
async fn the_breaker_composes_outside_a_tower_timeout() {
    let breaker = breaker("tower_outside_timeout");
    let mut svc = tower::ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)))
        .timeout(Duration::from_secs(1))
        .service(slow_service(Duration::from_secs(5)));

    let err = via_anyhow(&mut svc, 7).await.unwrap_err();
    assert_eq!(format!("{err:#}"), "request timed out");
    let layer_error = err.downcast_ref::<Error<tower::BoxError>>().unwrap();
    assert!(
        layer_error
            .as_inner()
            .unwrap()
            .is::<tower::timeout::error::Elapsed>()
    );

    let err = via_box_error(&mut svc, 7).await.unwrap_err();
    assert_eq!(err.to_string(), "request timed out");

    // A third timeout opens the breaker (threshold 3): the next call is refused at once.
    via_anyhow(&mut svc, 7).await.unwrap_err();
    assert_eq!(breaker.state(), CircuitState::Open);
    let err = via_anyhow(&mut svc, 7).await.unwrap_err();
    assert!(
        err.downcast_ref::<Error<tower::BoxError>>()
            .unwrap()
            .is_rejected()
    );
    assert!(format!("{err:#}").starts_with("circuit 'tower_outside_timeout' is open"));

    // Inside another layer that wants `Into<BoxError>`: a second, outer timeout.
    let mut stacked = tower::ServiceBuilder::new()
        .timeout(Duration::from_secs(10))
        .layer(CircuitBreakerLayer::new(self::breaker(
            "tower_between_timeouts",
        )))
        .timeout(Duration::from_secs(1))
        .service(slow_service(Duration::from_millis(10)));
    assert_eq!(via_box_error(&mut stacked, 3).await.unwrap(), 3);
    assert_eq!(via_anyhow_boxed(&mut stacked, 4).await.unwrap(), 4);
}

/// The breaker inside `.timeout()`: the timeout takes the layer's error into `BoxError`, and a
/// rejection is found again by downcasting.
#[tokio::test(start_paused = true)]
async fn the_breaker_composes_inside_a_tower_timeout() {
    let breaker = breaker("tower_inside_timeout");
    let mut svc = tower::ServiceBuilder::new()
        .timeout(Duration::from_secs(1))
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)))
        .service(slow_service(Duration::from_millis(10)));

    assert_eq!(via_box_error(&mut svc, 5).await.unwrap(), 5);
    let err = via_box_error(&mut svc, 0).await.unwrap_err();
    assert_eq!(err.to_string(), "no such account");
    let err = via_anyhow_boxed(&mut svc, 0).await.unwrap_err();
    assert_eq!(format!("{err:#}"), "no such account");

    breaker.force_open();
    let err = via_box_error(&mut svc, 5).await.unwrap_err();
    let layer_error = err.downcast_ref::<Error<std::io::Error>>().unwrap();
    assert!(layer_error.is_rejected());
}

/// `?` into `anyhow` from a stack whose outer error is tower's `BoxError`.
async fn via_anyhow_boxed<S>(svc: &mut S, id: u32) -> anyhow::Result<u32>
where
    S: Service<u32, Response = u32, Error = tower::BoxError>,
{
    let ready = svc.ready().await.map_err(anyhow::Error::from_boxed)?;
    let response = ready.call(id).await.map_err(anyhow::Error::from_boxed)?;
    Ok(response)
}
