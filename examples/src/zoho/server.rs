//! One tier of the Zoho stand-in: a real HTTP server on loopback whose faults are switched at
//! run time.
//!
//! Routes:
//!
//! * `GET /accounts/{id}`: the account as JSON ([`Account`]), or a fault.
//! * `GET /health`: `200 {"status":"ok"}` while the tier is healthy, a fault otherwise. The
//!   random background faults of [`ServerConfig::fault_rate`] spare it: they stand for
//!   transient errors that a health check rarely sees.
//!
//! What each [`FaultMode`] does:
//!
//! | mode | `/accounts/{id}` and `/health` |
//! |---|---|
//! | `Healthy` | answers at once (an account fails with 503 at the configured background rate) |
//! | `Failing` | HTTP 503 Service Unavailable |
//! | `Slow` | answers only after [`ServerConfig::slow_delay`], or when the mode changes |
//! | `Refusing` | the listening socket is closed: connections are refused |
//! | `Busy` | answers after [`ServerConfig::busy_delay`] (100 ms by default), in time for the client |
//!
//! Leaving `Refusing` binds the same port again (Tokio's `TcpListener::bind` sets
//! `SO_REUSEADDR` on Unix, so the old socket's connections in `TIME_WAIT` do not block it).

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::org::{OrgLimits, Refusal};
use super::{Account, TierId};

/// How long [`FakeServer::set_mode`] waits for the connections of a server going down to end
/// before it stops waiting.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// How a tier behaves, switched at run time with [`FakeServer::set_mode`].
///
/// Serialises as `"healthy"`, `"failing"`, `"slow"` or `"refusing"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// Answers at once; with a background fault rate, some account requests fail with 503.
    Healthy,
    /// Every request fails with HTTP 503.
    Failing,
    /// Every request is answered late: after the client has given up.
    Slow,
    /// Nothing listens: connections are refused.
    Refusing,
    /// Answers every request, each after [`ServerConfig::busy_delay`]: a tier under load, in
    /// time for the client.
    Busy,
}

impl FaultMode {
    /// The mode in lower case: `healthy`, `failing`, `slow` or `refusing`.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultMode::Healthy => "healthy",
            FaultMode::Failing => "failing",
            FaultMode::Slow => "slow",
            FaultMode::Refusing => "refusing",
            FaultMode::Busy => "busy",
        }
    }

    /// What the mode does to a request, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            FaultMode::Healthy => "answers",
            FaultMode::Failing => "HTTP 503",
            FaultMode::Slow => "answers too late",
            FaultMode::Refusing => "connection refused",
            FaultMode::Busy => "answers, a little late",
        }
    }
}

impl fmt::Display for FaultMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settings of one [`FakeServer`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The tier it stands for; it tags the accounts it serves with it.
    pub tier: TierId,
    /// In `Healthy` mode, the fraction of account requests (0.0 to 1.0) that still fail with
    /// HTTP 503, drawn from a generator seeded with `seed`.
    pub fault_rate: f64,
    /// The seed of the background faults: the same seed and the same sequence of requests give
    /// the same faults.
    pub seed: u64,
    /// How late a `Slow` tier answers (unless its mode changes first). Longer than the client's
    /// timeout.
    pub slow_delay: Duration,
    /// How long a `Busy` tier takes over each answer. Shorter than the client's timeout.
    pub busy_delay: Duration,
    /// The organisation's limits, shared with the other tiers: past them, account requests
    /// are answered 429 `TOO_MANY_REQUESTS`. `None`: no limits.
    pub org: Option<Arc<OrgLimits>>,
}

impl ServerConfig {
    /// A healthy tier with no background faults, answering 5 s late when slow.
    pub fn new(tier: TierId) -> Self {
        Self {
            tier,
            fault_rate: 0.0,
            seed: 0,
            slow_delay: Duration::from_secs(5),
            busy_delay: Duration::from_millis(100),
            org: None,
        }
    }
}

/// One tier of the Zoho stand-in: an HTTP server on `127.0.0.1`, on a port chosen by the
/// system, that keeps its port for its whole life.
///
/// It counts the account requests it receives and remembers when each arrived, by the wall
/// clock (the clock of [`resilience::StateChange::at`]), so that a test can tell which of them
/// arrived while a breaker was open.
///
/// ```
/// use resilience_examples::zoho::TierId;
/// use resilience_examples::zoho::server::{FakeServer, FaultMode, ServerConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let server = FakeServer::start(ServerConfig::new(TierId::Mcp)).await?;
/// let port = server.addr().port();
/// server.set_mode(FaultMode::Refusing).await?; // the port is closed now
/// assert!(std::net::TcpStream::connect(server.addr()).is_err());
/// server.set_mode(FaultMode::Healthy).await?; // and open again, the same port
/// assert_eq!(server.addr().port(), port);
/// assert!(std::net::TcpStream::connect(server.addr()).is_ok());
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// `None` while refusing (or shut down).
    serving: tokio::sync::Mutex<Option<Serving>>,
}

/// What the request handlers share.
struct Shared {
    tier: TierId,
    mode: watch::Sender<FaultMode>,
    fault_rate: f64,
    rng: Mutex<StdRng>,
    slow_delay: Duration,
    busy_delay: Duration,
    arrivals: Mutex<Vec<SystemTime>>,
    injected_faults: AtomicU64,
    org: Option<Arc<OrgLimits>>,
}

/// A running accept loop and the means to stop it.
struct Serving {
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeServer")
            .field("tier", &self.shared.tier)
            .field("addr", &self.addr)
            .field("mode", &self.mode())
            .field("received", &self.received())
            .finish_non_exhaustive()
    }
}

impl FakeServer {
    /// Binds `127.0.0.1:0` and starts serving, healthy.
    pub async fn start(config: ServerConfig) -> io::Result<FakeServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            tier: config.tier,
            mode: watch::Sender::new(FaultMode::Healthy),
            fault_rate: config.fault_rate.clamp(0.0, 1.0),
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            slow_delay: config.slow_delay,
            busy_delay: config.busy_delay,
            arrivals: Mutex::new(Vec::new()),
            injected_faults: AtomicU64::new(0),
            org: config.org,
        });
        let serving = serve(listener, Arc::clone(&shared));
        Ok(FakeServer {
            addr,
            shared,
            serving: tokio::sync::Mutex::new(Some(serving)),
        })
    }

    /// The tier it stands for.
    pub fn tier(&self) -> TierId {
        self.shared.tier
    }

    /// Its address; the port stays the same across `Refusing` and back.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The current fault mode.
    pub fn mode(&self) -> FaultMode {
        *self.shared.mode.borrow()
    }

    /// Switches the fault mode. Requests waiting in `Slow` mode are answered at once.
    ///
    /// Entering `Refusing` closes the listening socket and waits (2 s at most) for the open
    /// connections to end; leaving it binds the same port again. Fails only when that port
    /// cannot be bound again.
    pub async fn set_mode(&self, mode: FaultMode) -> io::Result<()> {
        let mut serving = self.serving.lock().await;
        self.shared.mode.send_replace(mode);
        match (mode, serving.take()) {
            (FaultMode::Refusing, Some(running)) => stop(running).await,
            (FaultMode::Refusing, None) => {}
            (_, Some(running)) => *serving = Some(running),
            (_, None) => {
                let listener = rebind(self.addr).await?;
                *serving = Some(serve(listener, Arc::clone(&self.shared)));
            }
        }
        Ok(())
    }

    /// How many account requests it has received, faults included (health checks are not
    /// counted).
    pub fn received(&self) -> usize {
        lock(&self.shared.arrivals).len()
    }

    /// When each account request arrived, by the wall clock, in order.
    pub fn arrivals(&self) -> Vec<SystemTime> {
        lock(&self.shared.arrivals).clone()
    }

    /// How many account requests failed with a background fault while healthy.
    pub fn injected_faults(&self) -> u64 {
        self.shared.injected_faults.load(Ordering::Relaxed)
    }

    /// Stops serving for good: closes the port and waits (2 s at most) for the connections to
    /// end.
    pub async fn shutdown(&self) {
        if let Some(running) = self.serving.lock().await.take() {
            stop(running).await;
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(running) = self.serving.get_mut().take() {
            running.task.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves `listener` on a task of its own until told to stop.
fn serve(listener: TcpListener, shared: Arc<Shared>) -> Serving {
    let app = Router::new()
        .route("/accounts/{id}", get(account))
        .route("/health", get(health))
        .with_state(shared);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A dropped sender stops the server too.
                let _ = stopped.await;
            })
            .await
    });
    Serving { stop, task }
}

/// Closes the listening socket at once, then gives the open connections a moment to end.
async fn stop(running: Serving) {
    let Serving { stop, mut task } = running;
    let _ = stop.send(());
    if tokio::time::timeout(DRAIN_TIMEOUT, &mut task)
        .await
        .is_err()
    {
        task.abort();
    }
}

/// Binds `addr` again, trying for a moment in case the old socket is still being torn down.
async fn rebind(addr: SocketAddr) -> io::Result<TcpListener> {
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

impl Shared {
    fn mode(&self) -> FaultMode {
        *self.mode.borrow()
    }

    /// Whether this healthy request gets a background fault.
    fn inject_fault(&self) -> bool {
        if self.fault_rate <= 0.0 {
            return false;
        }
        let fault = lock(&self.rng).random_bool(self.fault_rate);
        if fault {
            self.injected_faults.fetch_add(1, Ordering::Relaxed);
        }
        fault
    }

    /// Waits for `slow_delay`, or until the mode changes.
    async fn stall(&self) {
        let mut changes = self.mode.subscribe();
        let _ = tokio::time::timeout(self.slow_delay, changes.changed()).await;
    }
}

#[derive(Serialize)]
struct Problem {
    error: &'static str,
    tier: TierId,
}

fn unavailable(shared: &Shared, error: &'static str) -> Response {
    let body = Problem {
        error,
        tier: shared.tier,
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// Zoho's answer past an organisation's limits: 429 with no `Retry-After` header.
#[derive(Serialize)]
struct TooManyRequests {
    code: &'static str,
    details: Empty,
    message: &'static str,
    status: &'static str,
}

/// `{}`.
#[derive(Serialize)]
struct Empty {}

fn too_many_requests(refusal: Refusal) -> Response {
    let message = match refusal {
        Refusal::Concurrency => "the organisation has too many concurrent calls",
        Refusal::Credits => "the organisation's API credits are spent",
    };
    let body = TooManyRequests {
        code: "TOO_MANY_REQUESTS",
        details: Empty {},
        message,
        status: "error",
    };
    (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
}

async fn account(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    lock(&shared.arrivals).push(SystemTime::now());
    // Held until the answer is built: the call counts against the organisation's concurrency.
    let _in_flight = match shared.org.as_deref().map(|org| org.admit(1)) {
        Some(Err(refusal)) => return too_many_requests(refusal),
        Some(Ok(admitted)) => Some(admitted),
        None => None,
    };
    match shared.mode() {
        FaultMode::Healthy if shared.inject_fault() => unavailable(&shared, "transient fault"),
        FaultMode::Healthy => Json(Account::fake(&id, shared.tier)).into_response(),
        FaultMode::Failing => unavailable(&shared, "service unavailable"),
        FaultMode::Slow => {
            shared.stall().await;
            Json(Account::fake(&id, shared.tier)).into_response()
        }
        // A connection accepted just before the listener closed.
        FaultMode::Refusing => unavailable(&shared, "shutting down"),
        FaultMode::Busy => {
            tokio::time::sleep(shared.busy_delay).await;
            Json(Account::fake(&id, shared.tier)).into_response()
        }
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    tier: TierId,
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let ok = |shared: &Shared| {
        let body = Health {
            status: "ok",
            tier: shared.tier,
        };
        Json(body).into_response()
    };
    match shared.mode() {
        FaultMode::Healthy => ok(&shared),
        FaultMode::Failing => unavailable(&shared, "service unavailable"),
        FaultMode::Slow => {
            shared.stall().await;
            ok(&shared)
        }
        FaultMode::Refusing => unavailable(&shared, "shutting down"),
        FaultMode::Busy => {
            tokio::time::sleep(shared.busy_delay).await;
            ok(&shared)
        }
    }
}
