//! An operator's view of the breakers, over HTTP: `GET /metrics` in Prometheus' text format and
//! `GET /status` as JSON. Served by the `operator` example; `tests/operator.rs` checks it.
//!
//! The router does not depend on an exporter: it is given a `render` function (for Prometheus,
//! `move || handle.render()` with a `metrics_exporter_prometheus::PrometheusHandle`) and calls
//! [`resilience::metrics::publish`] before each render, so that the gauges that successes move
//! (calls in the window, failure ratio) are current when scraped. The alert rules of
//! `resilience/alerts/` read these series.
//!
//! `/status` is the guide's metrics shape, every breaker by name, next to the health monitor's
//! status; durations name their unit (`time_until_retry_seconds`, `latency_seconds`):
//!
//! ```json
//! {
//!   "breakers": {
//!     "tier1_mcp": { "state": "open", "failure_count": 3, "success_count": 0,
//!                    "total_calls": 3, "error_rate": 1.0,
//!                    "last_failure_time": "2025-01-31T12:00:00.000Z",
//!                    "time_until_retry_seconds": 29.5 }
//!   },
//!   "health": { "all_healthy": false, "status": "degraded", "checked_at": "...", "tiers": {} }
//! }
//! ```
//!
//! Bind it to a loopback address: it tells whoever asks how the service's dependencies fare.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use resilience::health::{HealthMonitor, HealthStatus};
use resilience::{ManagerRef, Metrics};
use serde::Serialize;
use tokio::net::TcpListener;

/// Renders the metrics recorder's series as text, e.g. `PrometheusHandle::render`.
pub type Render = Arc<dyn Fn() -> String + Send + Sync + 'static>;

/// What the routes read: the breakers, the health monitor and the exporter's renderer.
#[derive(Clone)]
pub struct OperatorState {
    /// The breakers to report: [`resilience::registry()`] or a manager of your own in an `Arc`
    /// (`resilience::registry().into()`, `Arc::clone(&manager).into()`).
    pub manager: ManagerRef<'static>,
    /// The health monitor whose [`status`](HealthMonitor::status) `/status` reports.
    pub monitor: Arc<HealthMonitor>,
    /// Renders `/metrics`.
    pub render: Render,
}

/// The body of `GET /status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Every breaker's metrics, by name.
    pub breakers: BTreeMap<String, Metrics>,
    /// The health monitor's latest results.
    pub health: HealthStatus,
}

/// The routes `GET /metrics` and `GET /status`.
///
/// ```
/// use std::sync::Arc;
/// use resilience::health::HealthMonitor;
/// use resilience_examples::operator::{OperatorState, router};
///
/// let monitor = HealthMonitor::builder()
///     .tier("tier1_mcp", || async { Ok::<(), String>(()) })
///     .build()?;
/// let app = router(OperatorState {
///     manager: resilience::registry().into(),
///     monitor: Arc::new(monitor),
///     render: Arc::new(String::new), // a real exporter's `render` in practice
/// });
/// # drop(app);
/// # Ok::<(), resilience::ConfigError>(())
/// ```
pub fn router(state: OperatorState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(state)
}

/// Binds `router(state)` to `127.0.0.1` on a port the system picks and serves it on a task of
/// its own; returns the address. The task ends with the runtime, or when aborted.
///
/// ```no_run
/// # use resilience_examples::operator::{OperatorState, serve_loopback};
/// # async fn run(state: OperatorState) -> std::io::Result<()> {
/// let (addr, _server) = serve_loopback(state).await?;
/// println!("http://{addr}/metrics");
/// # Ok(())
/// # }
/// ```
pub async fn serve_loopback(
    state: OperatorState,
) -> io::Result<(SocketAddr, tokio::task::JoinHandle<io::Result<()>>)> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let app = router(state);
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((addr, task))
}

async fn metrics(State(state): State<OperatorState>) -> impl IntoResponse {
    resilience::metrics::publish(&state.manager);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        (state.render)(),
    )
}

async fn status(State(state): State<OperatorState>) -> Json<Status> {
    Json(Status {
        breakers: state.manager.all_metrics(),
        health: state.monitor.status(),
    })
}
