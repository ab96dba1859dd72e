//! [`CircuitBreakerLayer`]: a circuit breaker around a service, its classifiers and its error.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::breaker::{CircuitBreaker, OwnedPermit};
use crate::error::{CircuitBreakerOpenError, ConfigError};

// ---------------------------------------------------------------------------------------------
// Classifiers
// ---------------------------------------------------------------------------------------------

/// Decides whether a call's outcome counts as a failure for the breaker (`true`) or as a success
/// (`false`: the dependency answered).
///
/// Implemented by [`AnyError`] (the default), [`ServerErrors`] (for HTTP) and every
/// `Fn(&Result<Resp, E>) -> bool`. The layer clones its classifier into every response future,
/// so keep it cheap to clone: a unit struct, a function, a closure capturing little (or an
/// `Arc`).
///
/// ```
/// use resilience::tower::Classify;
///
/// /// Only timeouts count: any other error means the dependency answered.
/// #[derive(Clone, Copy)]
/// struct Timeouts;
///
/// impl<Resp> Classify<Resp, std::io::Error> for Timeouts {
///     fn is_failure(&self, result: &Result<Resp, std::io::Error>) -> bool {
///         matches!(result, Err(e) if e.kind() == std::io::ErrorKind::TimedOut)
///     }
/// }
///
/// let timed_out: Result<(), _> = Err(std::io::Error::from(std::io::ErrorKind::TimedOut));
/// assert!(Timeouts.is_failure(&timed_out));
/// ```
pub trait Classify<Resp, E> {
    /// Whether `result` counts as a failure.
    fn is_failure(&self, result: &Result<Resp, E>) -> bool;
}

impl<Resp, E, F> Classify<Resp, E> for F
where
    F: Fn(&Result<Resp, E>) -> bool,
{
    #[inline]
    fn is_failure(&self, result: &Result<Resp, E>) -> bool {
        self(result)
    }
}

/// The default classifier: every `Err` is a failure, every `Ok` a success.
///
/// ```
/// use resilience::tower::{AnyError, Classify};
///
/// assert!(AnyError.is_failure(&Err::<(), _>("refused")));
/// assert!(!AnyError.is_failure(&Ok::<_, ()>(503)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnyError;

impl<Resp, E> Classify<Resp, E> for AnyError {
    #[inline]
    fn is_failure(&self, result: &Result<Resp, E>) -> bool {
        result.is_err()
    }
}

/// The classifier for HTTP clients: a `5xx` response or a transport error (any `Err`) is a
/// failure; every other response, `4xx` included, is a success (the server answered).
///
/// ```
/// use resilience::tower::{Classify, ServerErrors};
///
/// let response = |status: u16| {
///     Ok::<_, std::io::Error>(http::Response::builder().status(status).body(()).unwrap())
/// };
/// assert!(ServerErrors.is_failure(&response(503)));
/// assert!(!ServerErrors.is_failure(&response(404)));
/// assert!(!ServerErrors.is_failure(&response(200)));
/// assert!(ServerErrors.is_failure(&Err::<http::Response<()>, _>("connection refused")));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerErrors;

impl<B, E> Classify<http::Response<B>, E> for ServerErrors {
    #[inline]
    fn is_failure(&self, result: &Result<http::Response<B>, E>) -> bool {
        match result {
            Ok(response) => response.status().is_server_error(),
            Err(_) => true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Layer and service
// ---------------------------------------------------------------------------------------------

/// A [`Layer`] wrapping services in a [`CircuitBreakerService`] guarded by one breaker.
///
/// Every service it wraps shares the breaker. `C` is the [classifier](Classify): [`AnyError`]
/// unless changed with [`classify`](Self::classify) or [`classifier`](Self::classifier).
///
/// ```
/// use resilience::tower::{CircuitBreakerLayer, ServerErrors};
///
/// // The breaker named "tier3_rest" in `resilience::registry()`, registered now if need be,
/// // counting 5xx responses and transport errors as failures.
/// let layer = CircuitBreakerLayer::named("tier3_rest")?.classifier(ServerErrors);
/// assert_eq!(layer.breaker().name(), "tier3_rest");
/// # Ok::<(), resilience::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct CircuitBreakerLayer<C = AnyError> {
    breaker: Arc<CircuitBreaker>,
    classify: C,
}

impl CircuitBreakerLayer {
    /// A layer guarding services with `breaker`, counting every `Err` as a failure.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience::CircuitBreaker;
    /// use resilience::tower::CircuitBreakerLayer;
    ///
    /// let breaker = Arc::new(CircuitBreaker::builder("tier1_mcp").build()?);
    /// let layer = CircuitBreakerLayer::new(breaker);
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn new(breaker: Arc<CircuitBreaker>) -> Self {
        Self {
            breaker,
            classify: AnyError,
        }
    }

    /// A layer guarding services with the breaker registered under `name` in the process-wide
    /// [`registry()`](crate::registry()), registered now (with the defaults and the
    /// environment's settings) if there is none; see
    /// [`CircuitBreakerManager::get_or_register`](crate::CircuitBreakerManager::get_or_register).
    ///
    /// Fails when the breaker has to be registered and the environment gives it a configuration
    /// that cannot work.
    ///
    /// ```
    /// use resilience::tower::CircuitBreakerLayer;
    ///
    /// let layer = CircuitBreakerLayer::named("tier1_mcp")?;
    /// assert!(std::sync::Arc::ptr_eq(
    ///     layer.breaker(),
    ///     &resilience::registry().get("tier1_mcp").unwrap(),
    /// ));
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn named(name: &str) -> Result<Self, ConfigError> {
        crate::registry().get_or_register(name).map(Self::new)
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Decides which outcomes count as failures with `f` (`true` = failure) instead.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience::CircuitBreaker;
    /// use resilience::tower::CircuitBreakerLayer;
    ///
    /// let breaker = Arc::new(CircuitBreaker::builder("tier2_sdk").build()?);
    /// // `Ok(status)` from a client returning bare status codes: 5xx is a failure.
    /// let layer = CircuitBreakerLayer::new(breaker)
    ///     .classify(|r: &Result<u16, std::io::Error>| r.as_ref().map_or(true, |s| *s >= 500));
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn classify<Resp, E, F>(self, f: F) -> CircuitBreakerLayer<F>
    where
        F: Fn(&Result<Resp, E>) -> bool + Clone,
    {
        self.classifier(f)
    }

    /// Decides which outcomes count as failures with `classifier` instead: [`ServerErrors`],
    /// or any [`Classify`] implementation.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience::CircuitBreaker;
    /// use resilience::tower::{CircuitBreakerLayer, ServerErrors};
    ///
    /// let breaker = Arc::new(CircuitBreaker::builder("tier3_rest").build()?);
    /// let layer = CircuitBreakerLayer::new(breaker).classifier(ServerErrors);
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify: classifier,
        }
    }

    /// The breaker guarding the services.
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }
}

impl<C> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker.name())
            .finish_non_exhaustive()
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: Arc::clone(&self.breaker),
            classify: self.classify.clone(),
        }
    }
}

/// A [`Service`] calling its inner service only when its breaker admits the call, and
/// recording every outcome; made by [`CircuitBreakerLayer`].
///
/// `poll_ready` is the inner service's. A call the breaker rejects fails with
/// [`Error::Rejected`] without reaching the inner service, whose readiness (a reserved slot of
/// a `Buffer` or a `ConcurrencyLimit`, say) is then kept for the next call.
///
/// A refusal by a [`BulkheadLayer`](super::BulkheadLayer) or a
/// [`RateLimitLayer`](super::RateLimitLayer) inside (its `BoxError` holding a
/// [`BulkheadFullError`](crate::limit::BulkheadFullError) or a
/// [`RateLimitedError`](crate::limit::RateLimitedError); either one unboxed, or as a
/// [`crate::Error`]) says nothing of the dependency, which was not called: the permit is released
/// without a record, whatever the classifier, and the refusal is returned as
/// [`Error::Inner`].
///
/// ```
/// use std::sync::Arc;
/// use resilience::CircuitBreaker;
/// use resilience::tower::CircuitBreakerService;
/// use tower::{Service, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), resilience::ConfigError> {
/// let breaker = Arc::new(CircuitBreaker::builder("tier1_mcp").build()?);
/// let inner = service_fn(|id: u32| async move { Ok::<_, std::io::Error>(id + 1) });
/// let mut svc = CircuitBreakerService::new(inner, Arc::clone(&breaker));
/// assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), 2);
///
/// breaker.force_open();
/// assert!(svc.ready().await.unwrap().call(1).await.unwrap_err().is_rejected());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreakerService<S, C = AnyError> {
    inner: S,
    breaker: Arc<CircuitBreaker>,
    classify: C,
}

impl<S> CircuitBreakerService<S> {
    /// Guards `inner` with `breaker`, counting every `Err` as a failure. (To choose the
    /// classifier, go through [`CircuitBreakerLayer`].)
    pub fn new(inner: S, breaker: Arc<CircuitBreaker>) -> Self {
        CircuitBreakerLayer::new(breaker).layer(inner)
    }
}

impl<S, C> CircuitBreakerService<S, C> {
    /// The breaker guarding the service.
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    inner_service_accessors!();
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreakerService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker.name())
            .finish_non_exhaustive()
    }
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req>,
    S::Error: 'static,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let state = match self.breaker.try_acquire_owned() {
            Ok(permit) => State::Running {
                inner: self.inner.call(req),
                permit: Some(permit),
                classify: self.classify.clone(),
            },
            Err(rejection) => State::Rejected {
                rejection: Some(rejection),
            },
        };
        ResponseFuture { state }
    }
}

// ---------------------------------------------------------------------------------------------
// Response future
// ---------------------------------------------------------------------------------------------

pin_project! {
    /// The future of a [`CircuitBreakerService`] call: ready at once with
    /// [`Error::Rejected`] when the breaker refused the call, the inner service's future
    /// otherwise, recording its outcome when it completes.
    ///
    /// Dropping it before it completes records nothing and frees the half-open probe slot the
    /// call held, if any.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience::CircuitBreaker;
    /// use resilience::tower::CircuitBreakerService;
    /// use tower::{Service, service_fn};
    ///
    /// let breaker = Arc::new(
    ///     CircuitBreaker::builder("tier1_mcp").ignore_env().failure_threshold(1)
    ///         .half_open_max_calls(1).success_threshold(1).build()?,
    /// );
    /// breaker.try_acquire().unwrap().record_failure(); // open
    /// assert!(breaker.try_half_open());
    ///
    /// let mut svc = CircuitBreakerService::new(
    ///     service_fn(|()| std::future::pending::<Result<(), std::io::Error>>()),
    ///     Arc::clone(&breaker),
    /// );
    /// let probe = svc.call(()); // takes the only probe slot
    /// assert!(breaker.try_acquire().is_err());
    /// drop(probe); // cancelled: the slot is free again
    /// assert!(breaker.try_acquire().is_ok());
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F, C>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, C> {
        Rejected {
            rejection: Option<CircuitBreakerOpenError>,
        },
        Running {
            #[pin]
            inner: F,
            permit: Option<OwnedPermit>,
            classify: C,
        },
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Rejected { .. } => "rejected",
            State::Running {
                permit: Some(_), ..
            } => "running",
            State::Running { permit: None, .. } => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<F, C, Resp, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Resp, E>>,
    E: 'static,
    C: Classify<Resp, E>,
{
    type Output = Result<Resp, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Rejected { rejection } => Poll::Ready(Err(Error::Rejected(
                rejection
                    .take()
                    .expect("ResponseFuture polled after completion"),
            ))),
            StateProj::Running {
                inner,
                permit,
                classify,
            } => {
                let result = ready!(inner.poll(cx));
                if let Some(permit) = permit.take() {
                    match &result {
                        // A bulkhead or a rate limiter inside refused the call: the dependency
                        // was not called, so the permit is released unrecorded.
                        Err(e) if super::refusal::is_limit_refusal(e) => drop(permit),
                        _ if classify.is_failure(&result) => permit.record_failure(),
                        _ => permit.record_success(),
                    }
                }
                Poll::Ready(result.map_err(Error::Inner))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Error
// ---------------------------------------------------------------------------------------------

/// The error of a [`CircuitBreakerService`]: the breaker refused the call, or the inner
/// service failed.
///
/// Like [`crate::Error`], it is transparent: it displays as the error it carries and gives that
/// error's [`source`](std::error::Error::source) (for a boxed inner error; see its
/// `std::error::Error` impl). It is a [`std::error::Error`]
/// for any inner error that prints, tower's `BoxError` included, so it converts with `?` into
/// `BoxError` and `anyhow::Error`.
///
/// ```
/// use resilience::CircuitBreakerOpenError;
/// use resilience::tower::Error;
///
/// let err: Error<std::io::Error> = Error::Rejected(CircuitBreakerOpenError::new("tier1_mcp", None));
/// assert!(err.is_rejected());
/// assert_eq!(err.as_rejected().unwrap().circuit_name(), "tier1_mcp");
/// assert!(err.into_inner().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error<E> {
    /// The breaker refused the call; the inner service was not called.
    Rejected(CircuitBreakerOpenError),
    /// The inner service failed.
    Inner(E),
}

impl<E> Error<E> {
    /// Whether the breaker refused the call.
    pub fn is_rejected(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }

    /// The rejection, if the breaker refused the call.
    pub fn as_rejected(&self) -> Option<&CircuitBreakerOpenError> {
        match self {
            Error::Rejected(e) => Some(e),
            Error::Inner(_) => None,
        }
    }

    /// The inner service's error, if it failed, by reference.
    pub fn as_inner(&self) -> Option<&E> {
        match self {
            Error::Inner(e) => Some(e),
            Error::Rejected(_) => None,
        }
    }

    /// The inner service's error, if it failed.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) => Some(e),
            Error::Rejected(_) => None,
        }
    }
}

impl<E> From<CircuitBreakerOpenError> for Error<E> {
    fn from(e: CircuitBreakerOpenError) -> Self {
        Error::Rejected(e)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(e) => fmt::Display::fmt(e, f),
            Error::Inner(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// An error for any `E` that prints, so that the layer composes with tower's own layers on both
/// sides: inside another layer that wants `Into<BoxError>` while wrapping `.timeout()` or
/// `.buffer()` (whose error is tower's `BoxError`, which is not itself a
/// [`std::error::Error`]), and inside them.
///
/// Transparent: it shows the error it carries and returns that error's `source()`. Rust cannot
/// yet ask, in one impl, both "is `E` an error?" and "is `E` a boxed error?", so the chain goes
/// on below `E` when `E` is a boxed error (tower's `BoxError`, `Box<dyn Error>`, with or without
/// `Send`), which is what a stack of tower layers hands over; for any other `E` the chain ends
/// at `E`'s message, and [`Error::Inner`] gives `E` itself with its causes.
impl<E: fmt::Debug + fmt::Display + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Rejected(e) => std::error::Error::source(e),
            Error::Inner(e) => boxed_source(e),
        }
    }
}

/// The source of a boxed error, when `error` is one.
fn boxed_source<E: 'static>(error: &E) -> Option<&(dyn std::error::Error + 'static)> {
    use std::any::Any;
    use std::error::Error as StdError;

    let any: &dyn Any = error;
    if let Some(e) = any.downcast_ref::<Box<dyn StdError + Send + Sync>>() {
        e.source()
    } else if let Some(e) = any.downcast_ref::<Box<dyn StdError + Send>>() {
        e.source()
    } else if let Some(e) = any.downcast_ref::<Box<dyn StdError>>() {
        e.source()
    } else {
        None
    }
}
