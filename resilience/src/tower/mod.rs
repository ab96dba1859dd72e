//! [`tower`](https://docs.rs/tower) layers that guard any
//! [`Service`](tower_service::Service) (feature `tower`): a
//! [`CircuitBreaker`](crate::CircuitBreaker) ([`CircuitBreakerLayer`]), the limits of
//! [`crate::limit`] ([`BulkheadLayer`], [`RateLimitLayer`]) and a
//! [`RetryPolicy`](crate::RetryPolicy) with a
//! retry budget ([`RetryLayer`]). Each is a layer, a service and a response future of its own;
//! they stack with each other and with tower's layers.
//!
//! [`CircuitBreakerLayer`] wraps a service in a [`CircuitBreakerService`]. Each call asks the
//! breaker for a permit first: while the breaker is open the inner service is not called and the
//! call fails at once with [`Error::Rejected`]; otherwise the inner service's future runs, and
//! when it completes a [classifier](Classify) decides whether the outcome was a failure and the
//! permit records it. Dropping the response future before it completes records nothing and
//! frees the half-open probe slot it held, if any.
//!
//! Nothing is allocated per call: the response future is a plain struct holding the inner
//! future, the permit and a clone of the classifier.
//!
//! ```
//! use std::sync::Arc;
//! use resilience::CircuitBreaker;
//! use resilience::tower::{CircuitBreakerLayer, Error};
//! use tower::{Layer, Service, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), resilience::ConfigError> {
//! let breaker = Arc::new(CircuitBreaker::builder("tier2_sdk").failure_threshold(2).build()?);
//! let layer = CircuitBreakerLayer::new(Arc::clone(&breaker));
//! let mut svc = layer.layer(service_fn(|id: u32| async move {
//!     if id == 0 { Err("no such account") } else { Ok(format!("account {id}")) }
//! }));
//!
//! assert_eq!(svc.ready().await.unwrap().call(42).await.unwrap(), "account 42");
//! for _ in 0..2 {
//!     let err = svc.ready().await.unwrap().call(0).await.unwrap_err();
//!     assert!(matches!(err, Error::Inner("no such account")));
//! }
//! // Two failures in a row opened the breaker: the inner service is not called any more.
//! let err = svc.ready().await.unwrap().call(42).await.unwrap_err();
//! assert!(err.is_rejected());
//! # Ok(())
//! # }
//! ```
//!
//! # With tower's own layers
//!
//! [`Error`] is a [`std::error::Error`] whatever the inner service's error, tower's `BoxError`
//! included, so the layer stacks on either side of `.timeout()`, `.buffer()` and the like, and
//! its error goes into `BoxError` or `anyhow::Error` with `?`. Outside a timeout, the breaker
//! counts a timed-out call as a failure:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use resilience::CircuitBreaker;
//! use resilience::tower::CircuitBreakerLayer;
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), resilience::ConfigError> {
//! let breaker = Arc::new(CircuitBreaker::builder("tier2_sdk").failure_threshold(1).build()?);
//! let mut svc = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)))
//!     .timeout(Duration::from_secs(1))
//!     .service(service_fn(|id: u32| async move {
//!         tokio::time::sleep(Duration::from_secs(5)).await; // too slow
//!         Ok::<_, BoxError>(id)
//!     }));
//!
//! async fn get(svc: &mut impl Service<u32, Response = u32, Error: Into<BoxError>>) -> Result<u32, BoxError> {
//!     Ok(svc.ready().await.map_err(Into::into)?.call(7).await.map_err(Into::into)?)
//! }
//! assert_eq!(get(&mut svc).await.unwrap_err().to_string(), "request timed out");
//! assert!(breaker.state().is_open());
//! # Ok(())
//! # }
//! ```
//!
//! # Limits and retries together
//!
//! The layers compose in the order the attributes use,
//! `retry( circuit_breaker( rate_limit( bulkhead( service ))))`: each retry attempt passes
//! through the breaker; the breaker refuses before a credit or a slot is spent; the limits
//! protect the dependency.
//!
//! The limit layers' error is tower's `BoxError`, the refusal ([`BulkheadFullError`],
//! [`RateLimitedError`]) boxed as tower's own refusals are. A [`CircuitBreakerService`] knows
//! them there (and as [`crate::Error`], or unboxed): a refusal by a limit is not a failure of the
//! dependency, so the breaker releases its permit without recording anything, whatever its
//! classifier. A [`RetryLayer`] knows them too, and an open breaker's [`Error::Rejected`]: it
//! waits their `retry_after` when that fits within the policy's `max_delay` (see
//! [`verdict_for`]).
//!
//! [`BulkheadFullError`]: crate::limit::BulkheadFullError
//! [`RateLimitedError`]: crate::limit::RateLimitedError
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use resilience::limit::{Bulkhead, RateLimiter};
//! use resilience::tower::{BulkheadLayer, CircuitBreakerLayer, RateLimitLayer, RetryLayer};
//! use resilience::{BoxError, CircuitBreaker, RetryPolicy};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let breaker = Arc::new(CircuitBreaker::builder("zoho_rest").build()?);
//! let credits = Arc::new(RateLimiter::builder("zoho_credits", 1, Duration::from_secs(2)).build()?);
//! let org = Arc::new(Bulkhead::builder("zoho_org").max_concurrent(15).build()?);
//! let svc = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::builder().max_attempts(3).build()?))
//!     .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)))
//!     .layer(RateLimitLayer::new(Arc::clone(&credits)))
//!     .layer(BulkheadLayer::new(Arc::clone(&org)))
//!     .service(service_fn(|id: u32| async move { Ok::<_, BoxError>(format!("account {id}")) }));
//!
//! assert_eq!(svc.clone().oneshot(1).await?, "account 1");
//! // The one credit is spent: the limiter refuses, the retry waits the 2 s it asks for, and
//! // the breaker never counts the refusal.
//! let started = tokio::time::Instant::now();
//! assert_eq!(svc.clone().oneshot(2).await?, "account 2");
//! assert_eq!(started.elapsed(), Duration::from_secs(2));
//! assert_eq!(breaker.metrics().failure_count, 0);
//! # Ok(())
//! # }
//! ```

/// `get_ref`, `get_mut` and `into_inner` of a service whose inner service `S` is its `inner`
/// field, written in its `impl` block.
macro_rules! inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

mod breaker;
mod bulkhead;
mod limited;
mod rate_limit;
mod refusal;
mod retry;

pub use ::tower::retry::budget::TpsBudget;
pub use breaker::{
    AnyError, CircuitBreakerLayer, CircuitBreakerService, Classify, Error, ResponseFuture,
    ServerErrors,
};
pub use bulkhead::{BulkheadFuture, BulkheadLayer, BulkheadService};
pub use limited::LimitedFuture;
pub use rate_limit::{Cost, RateLimitFuture, RateLimitLayer, RateLimitService, UnitCost};
pub use refusal::verdict_for;
pub use retry::{RetryClassify, RetryErrors, RetryFuture, RetryHttp, RetryLayer, RetryService};
