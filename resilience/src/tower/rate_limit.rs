//! [`RateLimitLayer`]: at most a rate of calls (or credits) through every clone of a service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::LimitedFuture;
use crate::error::BoxError;
use crate::limit::{AcquireTokens, RateLimiter};

/// What a request costs in tokens: [`UnitCost`] (1 each, the default) or any
/// `Fn(&Req) -> u32`. A cost of zero passes without taking anything; a cost above the
/// limiter's burst is always refused, with no `retry_after`.
pub trait Cost<Req> {
    /// The tokens `request` takes.
    fn cost(&self, request: &Req) -> u32;
}

impl<Req, F> Cost<Req> for F
where
    F: Fn(&Req) -> u32,
{
    #[inline]
    fn cost(&self, request: &Req) -> u32 {
        self(request)
    }
}

/// The default [`Cost`]: every request takes one token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitCost;

impl<Req> Cost<Req> for UnitCost {
    #[inline]
    fn cost(&self, _: &Req) -> u32 {
        1
    }
}

/// A [`Layer`] wrapping services in a [`RateLimitService`]: every service it makes, and every
/// clone of those, shares one [`RateLimiter`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use resilience::limit::{RateLimitedError, RateLimiter};
/// use resilience::tower::RateLimitLayer;
/// use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), resilience::BoxError> {
/// // Zoho's credits: 100 000 a day, at most 500 at once; a bulk call costs 50.
/// let credits = Arc::new(
///     RateLimiter::builder("zoho_credits", 100_000, Duration::from_secs(86_400)).burst(500).build()?,
/// );
/// let svc = ServiceBuilder::new()
///     .layer(RateLimitLayer::new(Arc::clone(&credits)).cost(|ids: &Vec<u32>| if ids.len() > 1 { 50 } else { 1 }))
///     .service(service_fn(|ids: Vec<u32>| async move { Ok::<_, std::io::Error>(ids.len()) }));
///
/// for _ in 0..10 {
///     svc.clone().oneshot((1..=100).collect()).await?; // 10 x 50 credits: the whole burst
/// }
/// let refused = svc.clone().oneshot(vec![7]).await.unwrap_err();
/// let refused = refused.downcast_ref::<RateLimitedError>().unwrap();
/// assert!(refused.retry_after().unwrap() <= Duration::from_secs(1)); // one credit back in 0.864 s
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimitLayer<C = UnitCost> {
    limiter: Arc<RateLimiter>,
    cost: C,
}

impl RateLimitLayer {
    /// A layer limiting services with `limiter`, one token a request.
    pub fn new(limiter: Arc<RateLimiter>) -> Self {
        Self {
            limiter,
            cost: UnitCost,
        }
    }

    /// A layer limiting services with the rate limiter registered in the global
    /// [`registry()`](crate::registry()) under `name` (by a `#[rate_limit]` attribute, or
    /// [`register_rate_limiter`](crate::CircuitBreakerManager::register_rate_limiter)), one
    /// token a request: the way a service shares one budget with annotated functions. `None`
    /// when no limiter has that name (a rate has no default to make one with).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::limit::RateLimiter;
    /// use resilience::tower::RateLimitLayer;
    ///
    /// let credits = RateLimiter::builder("docs_layer_credits", 100, Duration::from_secs(60));
    /// let registered = resilience::registry().register_rate_limiter(credits)?;
    /// let layer = RateLimitLayer::named("docs_layer_credits").expect("registered above");
    /// assert!(std::sync::Arc::ptr_eq(layer.limiter(), &registered));
    /// assert!(RateLimitLayer::named("docs_layer_nothing").is_none());
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn named(name: &str) -> Option<Self> {
        crate::registry().rate_limiter(name).map(Self::new)
    }
}

impl<C> RateLimitLayer<C> {
    /// Weighs each request with `cost` instead: the tokens it takes (Zoho charges some calls
    /// more credits than others).
    pub fn cost<Req, F>(self, cost: F) -> RateLimitLayer<F>
    where
        F: Fn(&Req) -> u32 + Clone,
    {
        self.cost_model(cost)
    }

    /// Weighs each request with `cost`, any [`Cost`] implementation.
    pub fn cost_model<C2>(self, cost: C2) -> RateLimitLayer<C2> {
        RateLimitLayer {
            limiter: self.limiter,
            cost,
        }
    }

    /// The limiter limiting the services.
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }
}

impl<C> fmt::Debug for RateLimitLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.limiter.name())
            .finish_non_exhaustive()
    }
}

impl<S, C: Clone> Layer<S> for RateLimitLayer<C> {
    type Service = RateLimitService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiter: Arc::clone(&self.limiter),
            cost: self.cost.clone(),
        }
    }
}

/// A [`Service`] that takes each request's cost from its [`RateLimiter`] before calling the
/// inner service; made by [`RateLimitLayer`].
///
/// When the tokens are there, they are taken and the inner service is called at once. When
/// they would be there within the limiter's `max_wait`, they are reserved (callers are served
/// in the order they asked) and the call waits for them inside its response future; dropping
/// that future gives them back. Otherwise, or at once when `max_wait` is zero, the call fails
/// with a [`RateLimitedError`](crate::limit::RateLimitedError) carrying `retry_after` (boxed,
/// as tower's own refusals are; find it with `downcast_ref`), and the inner service is not
/// called. Tokens taken are spent: a call that then fails does not get them back.
///
/// Clones share the limiter: a rate holds across every clone and every task. (tower's own
/// `RateLimit` is neither `Clone` nor shared: each instance counts on its own.)
///
/// `poll_ready` is the inner service's: no token is taken before the call, so an outer
/// circuit breaker refuses before any credit is spent. With `max_wait` zero, the tokens are
/// taken (or refused) in `call` and the inner service called there. With a `max_wait`, a call
/// may have to wait, so every call moves the inner service, ready, into its response future
/// and leaves a clone in its place: hence `S: Clone`.
///
/// Its error is tower's `BoxError`, as for [`BulkheadService`](super::BulkheadService); under a
/// [`CircuitBreakerLayer`](super::CircuitBreakerLayer), a refusal is never a failure of the
/// dependency, and a [`RetryLayer`](super::RetryLayer) outside waits its `retry_after`.
#[derive(Clone)]
pub struct RateLimitService<S, C = UnitCost> {
    inner: S,
    limiter: Arc<RateLimiter>,
    cost: C,
}

impl<S> RateLimitService<S> {
    /// Limits `inner` with `limiter`, one token a request. (To weigh requests, go through
    /// [`RateLimitLayer`].)
    pub fn new(inner: S, limiter: Arc<RateLimiter>) -> Self {
        RateLimitLayer::new(limiter).layer(inner)
    }
}

impl<S, C> RateLimitService<S, C> {
    /// The limiter limiting the service.
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }

    inner_service_accessors!();
}

impl<S: fmt::Debug, C> fmt::Debug for RateLimitService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter.name())
            .finish_non_exhaustive()
    }
}

/// The response future of a [`RateLimitService`]: refused, running, or waiting for its
/// reserved tokens (given back if it is dropped before they are due).
pub type RateLimitFuture<S, Req> = LimitedFuture<AcquireTokens<Arc<RateLimiter>>, (), S, Req>;

impl<S, C, Req> Service<Req> for RateLimitService<S, C>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: Cost<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = RateLimitFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let cost = self.cost.cost(&req);
        let limiter = &self.limiter;
        // Taken or refused now without a `max_wait`; a wait for the tokens with one.
        LimitedFuture::call(
            &mut self.inner,
            req,
            limiter.config().max_wait.is_zero(),
            || limiter.try_acquire_n(cost),
            || Arc::clone(limiter).acquire_n_owned(cost),
        )
    }
}
