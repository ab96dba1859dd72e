//! [`BulkheadLayer`]: at most `max_concurrent` calls in flight through every clone of a service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::LimitedFuture;
use crate::error::{BoxError, ConfigError};
use crate::limit::{Acquire, Bulkhead, OwnedBulkheadPermit};

/// A [`Layer`] wrapping services in a [`BulkheadService`]: every service it makes, and every
/// clone of those, shares one [`Bulkhead`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use resilience::limit::{Bulkhead, BulkheadFullError};
/// use resilience::tower::BulkheadLayer;
/// use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), resilience::BoxError> {
/// // Zoho's Professional edition: 15 calls at once per organisation; wait up to 2 s for a slot.
/// let org = Arc::new(
///     Bulkhead::builder("zoho_org").max_concurrent(15).max_wait(Duration::from_secs(2)).build()?,
/// );
/// let mut svc = ServiceBuilder::new()
///     .layer(BulkheadLayer::new(Arc::clone(&org)))
///     .service(service_fn(|id: u32| async move { Ok::<_, std::io::Error>(id * 2) }));
/// assert_eq!(svc.ready().await?.call(21).await?, 42);
/// assert_eq!(org.metrics().in_flight, 0); // freed when the call completed
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct BulkheadLayer {
    bulkhead: Arc<Bulkhead>,
}

impl BulkheadLayer {
    /// A layer limiting services with `bulkhead`.
    pub fn new(bulkhead: Arc<Bulkhead>) -> Self {
        Self { bulkhead }
    }

    /// A layer limiting services with the bulkhead registered in the global
    /// [`registry()`](crate::registry()) under `name` (by a `#[bulkhead]` attribute, or
    /// [`register_bulkhead`](crate::CircuitBreakerManager::register_bulkhead)), or a new one
    /// with the defaults and the environment's settings, registered now: the way a service
    /// shares one bulkhead with annotated functions.
    ///
    /// ```
    /// use resilience::tower::BulkheadLayer;
    ///
    /// let layer = BulkheadLayer::named("docs_layer_org")?;
    /// assert!(std::sync::Arc::ptr_eq(
    ///     layer.bulkhead(),
    ///     &resilience::registry().bulkhead("docs_layer_org").unwrap(),
    /// ));
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn named(name: &str) -> Result<Self, ConfigError> {
        let registry = crate::registry();
        match registry.bulkhead(name) {
            Some(bulkhead) => Ok(Self::new(bulkhead)),
            None => registry
                .register_bulkhead(Bulkhead::builder(name.to_owned()))
                .map(Self::new),
        }
    }

    /// The bulkhead limiting the services.
    pub fn bulkhead(&self) -> &Arc<Bulkhead> {
        &self.bulkhead
    }
}

impl fmt::Debug for BulkheadLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadLayer")
            .field("bulkhead", &self.bulkhead.name())
            .finish()
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService::new(inner, Arc::clone(&self.bulkhead))
    }
}

/// A [`Service`] that runs each call in a slot of its [`Bulkhead`]; made by [`BulkheadLayer`].
///
/// The slot is taken when the call is made and held by the response future until the inner
/// service's future completes, or until the response future is dropped: a cancelled call frees
/// its slot at once. When every slot is taken, the call waits its turn in arrival order, up to
/// the bulkhead's `max_wait`, inside its response future; past that, or at once when `max_wait`
/// is zero, it fails with a [`BulkheadFullError`](crate::limit::BulkheadFullError) (boxed, as
/// tower's own refusals are; find it with `downcast_ref`) and the inner service is not called.
///
/// Clones share the bulkhead: the limit holds across every clone, as a pool's size does (unlike
/// tower's `ConcurrencyLimit`, whose clones each get a semaphore of their own unless built
/// from a shared one).
///
/// `poll_ready` is the inner service's: no slot is reserved before the call, so an outer
/// circuit breaker refuses before any slot is spent, and a service made ready but never called
/// holds nothing. With `max_wait` zero, the slot is taken (or refused) in `call` and the inner
/// service called there. With a `max_wait`, a call may have to wait, so every call moves the
/// inner service, ready, into its response future and leaves a clone in its place (one clone
/// of the service a call, as tower's `Retry` makes): hence `S: Clone`.
///
/// Its error is tower's `BoxError` (the inner service's error, boxed, or the refusal), so
/// that it stacks with tower's layers and with the other limits without nesting types.
/// Under a [`CircuitBreakerLayer`](super::CircuitBreakerLayer), a refusal is not a failure of
/// the dependency: the breaker releases its permit without recording anything, whatever its
/// classifier.
#[derive(Clone)]
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: Arc<Bulkhead>,
}

impl<S> BulkheadService<S> {
    /// Limits `inner` with `bulkhead`.
    pub fn new(inner: S, bulkhead: Arc<Bulkhead>) -> Self {
        Self { inner, bulkhead }
    }

    /// The bulkhead limiting the service.
    pub fn bulkhead(&self) -> &Arc<Bulkhead> {
        &self.bulkhead
    }

    inner_service_accessors!();
}

impl<S: fmt::Debug> fmt::Debug for BulkheadService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadService")
            .field("inner", &self.inner)
            .field("bulkhead", &self.bulkhead.name())
            .finish()
    }
}

/// The response future of a [`BulkheadService`]: refused, running in its slot, or waiting for
/// one. Dropping it frees the slot, or leaves the queue.
pub type BulkheadFuture<S, Req> =
    LimitedFuture<Acquire<Arc<Bulkhead>>, OwnedBulkheadPermit, S, Req>;

impl<S, Req> Service<Req> for BulkheadService<S>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BulkheadFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let bulkhead = &self.bulkhead;
        // A free slot or a refusal, decided now without a `max_wait`; a wait for a slot with one.
        LimitedFuture::call(
            &mut self.inner,
            req,
            bulkhead.config().max_wait.is_zero(),
            || bulkhead.try_acquire_owned(),
            || bulkhead.acquire_owned(),
        )
    }
}
