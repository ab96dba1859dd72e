//! Keep a service working while the services it calls fail: circuit breakers, retries with
//! backoff and jitter, multi-tier fallback and health monitoring for async Rust.
//!
//! # The attributes
//!
//! Written on an `async fn` returning `Result<T, E>`, three attributes guard it; a configuration
//! that cannot work (`failure_threshold = 0`, `base_delay` above `max_delay`, a tier that does not
//! exist, ...) is a compile error pointing at the offending token.
//!
//! * [`#[circuit_breaker]`](macro@circuit_breaker): a named breaker, shared by every function
//!   that names it, stops calling a failing dependency and probes it after a while.
//! * [`#[retry]`](macro@retry): retries with exponential backoff and jitter; every attempt passes
//!   through the breaker, and an open circuit is waited out rather than hammered.
//! * [`#[fallback]`](macro@fallback): other functions tried in order once the retries are spent,
//!   or at once while the breaker is open.
//!
//! Whatever the order they are written in, they compose as
//! `fallback(retry(circuit_breaker(body)))`.
//!
//! ```
//! use resilience::{circuit_breaker, fallback, retry};
//!
//! #[derive(Debug, thiserror::Error)]
//! enum ZohoError {
//!     #[error("HTTP {0}")]
//!     Http(u16),
//!     #[error(transparent)]
//!     Resilience(#[from] resilience::Error), // rejections and all-tiers-failed arrive here
//! }
//!
//! struct ZohoClient;
//!
//! impl ZohoClient {
//!     #[fallback(get_account_sdk, get_account_rest)]
//!     #[retry(max_attempts = 3, base_delay = "1s")]
//!     #[circuit_breaker(name = "tier1_mcp", failure_threshold = 5, recovery_timeout = "60s")]
//!     async fn get_account(&self, id: &str) -> Result<String, ZohoError> {
//!         Err(ZohoError::Http(503)) // the MCP server is down
//!     }
//!
//!     #[circuit_breaker(name = "tier2_sdk", failure_threshold = 5, recovery_timeout = "60s")]
//!     async fn get_account_sdk(&self, id: &str) -> Result<String, ZohoError> {
//!         Ok(format!("account {id} via the SDK"))
//!     }
//!
//!     #[circuit_breaker(name = "tier3_rest", failure_threshold = 5, recovery_timeout = "60s")]
//!     async fn get_account_rest(&self, id: &str) -> Result<String, ZohoError> {
//!         Ok(format!("account {id} via REST"))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let account = ZohoClient.get_account("42").await.unwrap();
//! assert_eq!(account, "account 42 via the SDK");
//! # }
//! ```
//!
//! # The runtime types
//!
//! The attributes are built on these, which work on their own too:
//!
//! * [`CircuitBreaker`]: stops calling a failing dependency, probes it after a while, and closes
//!   again once it answers. Lock-free on the call path.
//! * [`CircuitBreakerManager`] and the process-wide [`registry()`]: breakers shared by name.
//! * [`RetryPolicy`]: retries with exponential backoff and jitter, that wait out an open
//!   circuit instead of hammering it.
//! * [`FallbackHandler`]: tries tiers in order, skipping those whose breaker is open.
//! * [`HealthMonitor`]: checks each tier in the background and reports their health.
//! * [`limit`]: a time limit per attempt, a cap on calls in flight and a rate limiter, to protect
//!   a dependency from the service.
//! * [`config`]: defaults from the environment (`CIRCUIT_BREAKER_FAILURE_THRESHOLD`, ...), with
//!   [`init()`] to fail fast on a bad value.
//! * [`events`]: tracing events with the guide's fields, and subscriptions to state changes.
//! * [`error`]: one error type per failure mode, and [`Error`] gathering them.
//!
//! ```
//! use std::time::Duration;
//! use resilience::{CallError, CircuitBreaker, CircuitState};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), resilience::ConfigError> {
//! let breaker = CircuitBreaker::builder("zoho_mcp")
//!     .failure_threshold(5)
//!     .recovery_timeout(Duration::from_secs(60))
//!     .half_open_max_calls(3)
//!     .success_threshold(2)
//!     .build()?;
//!
//! let account = breaker.call(|| async { Ok::<_, std::io::Error>("ACME Corp") }).await;
//! assert_eq!(account.unwrap(), "ACME Corp");
//! assert_eq!(breaker.state(), CircuitState::Closed);
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! Each integration is a cargo feature, off by default:
//!
//! | feature | gives |
//! |---|---|
//! | `serde` | `Serialize` for [`Metrics`], [`CircuitState`], [`StateChange`] and the health status (the guide's JSON); `Deserialize` for [`config::BreakerOptions`] and [`config::RetryOptions`], from a configuration file |
//! | `tower` | `resilience::tower`: `tower` layers guarding any `Service` with a breaker, a bulkhead, a rate limiter and retries (with a retry budget), and classifiers for `http` responses (turns on `http`) |
//! | `http` | `resilience::http`: which HTTP statuses are failures of the dependency, and the wait a `Retry-After` header asks for |
//! | `metrics` | `resilience::metrics`: every event published through the `metrics` facade, to any exporter (Prometheus, ...) |
//! | `fleet` | `resilience::fleet`: the breakers of a manager shared by the replicas of a service through Redis (or Valkey): opened everywhere, probed once for the fleet |
//! | `test-util` | for tests: breakers time everything on tokio's clock, so `tokio::time::pause` drives them (turns on tokio's `test-util`) |
//!
//! ```toml
//! resilience = { version = "0.1", features = ["tower", "metrics"] }
//! ```
//!
//! # Reference
//!
//! The behaviour, names, defaults, metrics and log fields follow the *Circuit Breaker Pattern
//! Guide* ("the guide" in these pages). [`_reference`] holds the chapters on the crate as a
//! whole: configuration and environment variables, the behaviour of each state, errors, events
//! and metrics, troubleshooting, the production checklist, and the guide's Python API in Rust.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod _reference;
pub mod breaker;
mod clock;
pub mod config;
pub mod error;
pub mod events;
pub mod fallback;
#[cfg(feature = "fleet")]
#[cfg_attr(docsrs, doc(cfg(feature = "fleet")))]
pub mod fleet;
pub mod health;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod limit;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod name;
pub mod registry;
pub mod retry;
mod sites;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// Guards an `async fn` returning `Result<T, E>` with a named circuit breaker.
///
/// ```
/// use resilience::circuit_breaker;
///
/// #[derive(Debug, thiserror::Error)]
/// enum ZohoError {
///     #[error("HTTP {0}")]
///     Http(u16),
///     #[error(transparent)]
///     Resilience(#[from] resilience::Error),
/// }
///
/// #[circuit_breaker(name = "tier1_mcp", failure_threshold = 5, recovery_timeout = "60s")]
/// async fn get_account(id: &str) -> Result<String, ZohoError> {
///     Ok(format!("account {id}"))
/// }
/// ```
///
/// Every function naming the same breaker shares it, through the global
/// [`registry()`](crate::registry()), where it is from the start of the program, before its
/// first call, with the attribute's settings. While the breaker is open the body is not run and
/// the function returns `E::from(resilience::Error::CircuitOpen(..))`: `E` needs
/// `From<resilience::Error>`.
///
/// The name may be a constant (`name = TIER1`, `name = crate::names::TIER1`, not `Self::..`),
/// to share it with `CircuitBreakerLayer::named` (feature `tower`) or the [`HealthMonitor`]; a
/// bad value is a compile error there too. Without `name`, the breaker
/// is named after the module path and the function, `billing::zoho::get_account` for
/// `get_account` in the module `zoho` of the crate `billing` (a raw identifier without its
/// `r#`: `billing::gen::get` for `get` in `r#gen`), so that two functions share a breaker only
/// when they name it; its per-breaker variables write each `:` as `_`
/// (`CIRCUIT_BREAKER_BILLING__ZOHO__GET_ACCOUNT_FAILURE_THRESHOLD`). A function or module whose
/// name is not ASCII has no default name: write `name`, or it is a compile error at the
/// function's name. A function without a name never shares its breaker: when its default name
/// is taken, by a function of the same name in the same module (methods of two types) or by an
/// attribute that writes it as its `name`, it gets the first of `billing::zoho::get_account::2`,
/// `billing::zoho::get_account::3`, ... that is free (written names first, then in the order of
/// the file), and [`init()`] reports both places: name them, or write the same `name` on both
/// to share one breaker. [`init()`] also reports two attributes that give one name different
/// settings (the first in the file is used).
///
/// | key | value | default |
/// |---|---|---|
/// | `name` | `"tier1_mcp"` (ASCII letters, digits, `_`, `::` between segments), or a `&str` constant | the module path and the function's name |
/// | `failure_threshold` | consecutive failures that open it | 5 |
/// | `recovery_timeout` | `"60s"`, `"500ms"`, `"2m"` or seconds (`60`, `1.5`) | 60 s |
/// | `half_open_max_calls` | probes in flight while half-open | 3 |
/// | `success_threshold` | successful probes that close it (at most `half_open_max_calls`) | 2 |
/// | `window_size`, `minimum_calls`, `failure_rate_threshold` | the failure-rate rule | off |
/// | `failure_if` | a path to `fn(&E) -> bool`: which errors count as failures | every `Err` |
///
/// Values written here give way to a per-breaker environment variable
/// (`CIRCUIT_BREAKER_TIER1_MCP_FAILURE_THRESHOLD`) and beat the global ones; see [`config`].
/// A value that cannot work is a compile error at the value.
pub use resilience_macros::circuit_breaker;

/// Retries an `async fn` returning `Result<T, E>` with exponential backoff and jitter.
///
/// ```
/// use resilience::retry;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("HTTP {0}")]
/// struct HttpError(u16);
///
/// impl HttpError {
///     fn is_transient(&self) -> bool {
///         self.0 >= 500
///     }
/// }
///
/// #[retry(max_attempts = 3, base_delay = "1s", max_delay = "60s", retry_if = HttpError::is_transient)]
/// async fn get_account(id: String) -> Result<String, HttpError> {
///     Ok(id)
/// }
/// ```
///
/// The body runs again for each attempt, each time from the caller's arguments: owned ones are
/// cloned for each (so they must be `Clone`), and a `mut` argument's changes are not seen by
/// the next attempt. A method takes `&self`, `&mut self` or `self: Arc<Self>`, not `self` by
/// value. After the last attempt the function
/// returns that attempt's error; `E` must implement `Display` (failed attempts are logged).
/// With [`macro@circuit_breaker`] on the same function, every attempt passes through the breaker
/// and an open circuit is waited out when its `retry_after` fits within `max_delay`, or ends the
/// retries otherwise. With [`macro@fallback`] too, an open circuit ends the retries at once: the
/// next tier serves rather than the call waiting for this one.
///
/// | key | value | default |
/// |---|---|---|
/// | `max_attempts` | calls in all, the first included | 3 |
/// | `base_delay` | the first wait: `"1s"`, `"500ms"` or seconds | 1 s |
/// | `max_delay` | the longest wait | 60 s |
/// | `exponential_base` | growth of the waits, at least 1.0 | 2.0 |
/// | `jitter` | multiply each wait by a random factor in [0.5, 1.5) | `true` |
/// | `budget` | give up once the next wait would end later than this after the first call | none |
/// | `retry_if` | a path to `fn(&E) -> bool`: which errors are retried | every `Err` |
/// | `retry_after` | a path to `fn(&E) -> Option<Duration>`: a wait the error asks for (HTTP `Retry-After`), waited like an open circuit's | none |
pub use resilience_macros::retry;

/// Falls back to other functions, in order, when an `async fn` fails.
///
/// ```
/// use resilience::{circuit_breaker, fallback};
///
/// #[derive(Debug, thiserror::Error)]
/// enum ZohoError {
///     #[error("HTTP {0}")]
///     Http(u16),
///     #[error(transparent)]
///     Resilience(#[from] resilience::Error),
/// }
///
/// struct ZohoClient;
///
/// impl ZohoClient {
///     #[fallback(get_account_sdk, get_account_rest)]
///     #[circuit_breaker(name = "tier1_mcp")]
///     async fn get_account(&self, id: &str) -> Result<String, ZohoError> {
///         Err(ZohoError::Http(503))
///     }
///
///     #[circuit_breaker(name = "tier2_sdk")]
///     async fn get_account_sdk(&self, id: &str) -> Result<String, ZohoError> {
///         Ok(format!("{id} via SDK"))
///     }
///
///     #[circuit_breaker(name = "tier3_rest")]
///     async fn get_account_rest(&self, id: &str) -> Result<String, ZohoError> {
///         Ok(format!("{id} via REST"))
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(ZohoClient.get_account("42").await.unwrap(), "42 via SDK");
/// # }
/// ```
///
/// Tiers are paths (`tier2`, `Self::tier2`, `crate::zoho::tier2`) to functions with the same
/// arguments and return type; in a method, a plain name is called as a method on `self`. The
/// function's own run comes first (through its breaker and retries, if it has them), then each
/// tier once; the first success wins. When all fail, the function returns
/// `E::from(resilience::Error::AllTiersFailed(..))` listing every tier with its error: `E` needs
/// `From<resilience::Error>` and must be a `std::error::Error + Send + Sync + 'static`.
///
/// Whatever the order the three attributes are written in, and however they are imported
/// (`#[res::retry]` after `use resilience as res;`, `#[with_retry]` after
/// `use resilience::retry as with_retry;`), they compose as
/// `fallback(retry(circuit_breaker(body)))`.
///
/// # What the three attributes accept
///
/// - Free functions and methods taking `&self`, `&mut self`, `self: &Self`, `self: &mut Self`
///   or `self: Arc<Self>` (the `Arc` is cloned for each tier but the last); `self` by value
///   works under [`macro@circuit_breaker`] alone.
/// - Methods of an `#[async_trait]` impl: write the attributes on the `async fn` in the impl.
/// - Arguments with `#[cfg(..)]` or lint attributes, and `_: T` arguments.
/// - `crate = "path"` on any of them, where the `resilience` crate is not `::resilience`: a
///   renamed dependency (`res = { package = "resilience", .. }` and `crate = "res"`), or a
///   crate that re-exports it:
///
/// ```
/// mod facade {
///     pub use ::resilience::*;
/// }
///
/// #[facade::retry(max_attempts = 3, crate = "crate::facade")]
/// async fn get_account(id: u32) -> Result<u32, facade::Error> {
///     Ok(id)
/// }
/// # fn main() {}
/// ```
pub use resilience_macros::fallback;

/// Limits each attempt of an `async fn` returning `Result<T, E>` to a time: past it, the
/// attempt's future is dropped where it stands and the function returns
/// `E::from(resilience::Error::Timeout(..))`.
///
/// ```
/// use resilience::{Error, timeout};
///
/// #[timeout("5s")]
/// async fn get_account(id: u32) -> Result<u32, Error> {
///     Ok(id)
/// }
/// # fn main() {}
/// ```
///
/// The time limit is written alone: `"5s"`, `"500ms"`, `"2m"`, or seconds (`5`, `0.5`);
/// zero, or more than 365 days, is a compile error. It holds for each attempt (inside
/// [`macro@retry`], inside the slot of a [`macro@bulkhead`]), and under a
/// [`macro@circuit_breaker`] a timeout counts as a failure of the dependency.
///
/// The six attributes compose in one order, whatever the order they are written in:
/// `fallback(retry(circuit_breaker(rate_limit(bulkhead(timeout(body))))))`. An open circuit
/// refuses before a token or a slot is spent; a refusal by the rate limiter or the bulkhead
/// is not a failure of the dependency (the breaker records nothing), and [`macro@retry`]
/// waits a rate limiter's `retry_after` when it fits within `max_delay`, as for an open
/// circuit (a full bulkhead: the backoff delay); with [`macro@fallback`], a refusal sends the
/// call to the next tier at once.
pub use resilience_macros::timeout;

/// Runs an `async fn` returning `Result<T, E>` in a slot of a named
/// [`Bulkhead`](limit::Bulkhead): at most `max_concurrent` calls at once, the others waiting
/// their turn up to `max_wait`, or refused with `E::from(resilience::Error::BulkheadFull(..))`.
///
/// ```
/// use resilience::{Error, bulkhead};
///
/// struct Zoho;
///
/// impl Zoho {
///     // Zoho's Professional edition: 15 concurrent calls per organisation, shared by every
///     // method that names the bulkhead.
///     #[bulkhead(name = "zoho_org", max_concurrent = 15, max_wait = "2s")]
///     async fn get_account(&self, id: u32) -> Result<u32, Error> {
///         Ok(id)
///     }
///
///     #[bulkhead(name = "zoho_org", max_concurrent = 15, max_wait = "2s")]
///     async fn get_invoice(&self, id: u32) -> Result<u32, Error> {
///         Ok(id)
///     }
/// }
/// # fn main() {}
/// ```
///
/// The slot is held while the body runs and freed when it ends, fails or is dropped. Names
/// follow [`macro@circuit_breaker`]'s rules: every function naming the same bulkhead shares
/// it, it is in [`registry()`] from the start of the program
/// ([`bulkhead_metrics`](CircuitBreakerManager::bulkhead_metrics)), `BULKHEAD_<NAME>_MAX_CONCURRENT`
/// and `BULKHEAD_<NAME>_MAX_WAIT` beat the values written here, and without `name` it is named
/// after the module path and the function. See [`macro@timeout`] for the order of the layers.
///
/// | key | value | default |
/// |---|---|---|
/// | `name` | `"zoho_org"`, or a `&str` constant | the module path and the function's name |
/// | `max_concurrent` | calls at once, 1 to [`limit::MAX_CONCURRENT`] | 10 |
/// | `max_wait` | how long a call waits for a slot: `"2s"`, `"500ms"` or seconds | 0: refused at once |
pub use resilience_macros::bulkhead;

/// Runs an `async fn` returning `Result<T, E>` within a named
/// [`RateLimiter`](limit::RateLimiter): at most `rate` tokens per `per`, each call taking
/// `cost`, waiting for them up to `max_wait`, or refused with
/// `E::from(resilience::Error::RateLimited(..))`, whose `retry_after` says when they will be
/// there.
///
/// ```
/// use resilience::{Error, rate_limit};
///
/// // Zoho's API credits: 100 000 a day, at most 500 at once; a search costs 5.
/// #[rate_limit(name = "zoho_credits", rate = 100_000, per = "24h", burst = 500, cost = 5)]
/// async fn search(query: &str) -> Result<usize, Error> {
///     Ok(query.len())
/// }
/// # fn main() {}
/// ```
///
/// Names follow [`macro@circuit_breaker`]'s rules: every function naming the same limiter
/// shares it (each with its own `cost`), it is in [`registry()`] from the start of the program
/// ([`rate_limiter_metrics`](CircuitBreakerManager::rate_limiter_metrics)),
/// `RATE_LIMIT_<NAME>_RATE`, `_PER`, `_BURST` and `_MAX_WAIT` beat the values written here,
/// and without `name` it is named after the module path and the function. A call that never
/// starts (dropped while it waits for its tokens, or, under `#[bulkhead]`, refused a slot or
/// dropped while it waits for one) gives its tokens back, unless a later call has reserved
/// tokens behind them: they then stay spent, so that the rate is never exceeded. See [`macro@timeout`] for the order of the layers.
///
/// | key | value | default |
/// |---|---|---|
/// | `rate` | tokens per period, 1 to [`config::MAX_RATE`] | required |
/// | `per` | the period: `"1s"`, `"24h"` or seconds | required |
/// | `name` | `"zoho_credits"`, or a `&str` constant | the module path and the function's name |
/// | `burst` | the most tokens taken at once, 1 to [`limit::MAX_BURST`] | `rate` |
/// | `cost` | tokens a call takes, at most the burst | 1 |
/// | `max_wait` | how long a call waits for its tokens | 0: refused at once |
pub use resilience_macros::rate_limit;

pub use breaker::{
    Admission, CallError, CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerConfig,
    CircuitState, Metrics, OwnedPermit, Permit,
};
pub use error::{
    AllTiersFailedError, BoxError, CircuitBreakerOpenError, ConfigError, Error,
    RetryExhaustedError, TierFailure, TierOutcome,
};
pub use events::StateChange;
pub use fallback::{FallbackHandler, Served, Tier};
pub use health::{
    HealthMonitor, HealthMonitorBuilder, HealthStatus, OverallStatus, TierHealth, UnknownTier,
};
pub use registry::{CircuitBreakerManager, ManagerRef, registry};
pub use retry::{RetryError, RetryPolicy, RetryPolicyBuilder, RetryRun, Verdict};

/// Validates the environment now, for a service that wants to fail fast at start-up: every
/// global variable and every per-breaker `CIRCUIT_BREAKER_<NAME>_<KEY>` variable present, and
/// the rules between two settings that they set, with the values each attribute writes (see
/// [`config::init`]); then the breakers, bulkheads and rate limiters written in attributes: two
/// attributes that give one name different settings, or a function without a name whose
/// default name is taken (by another function of its module, or written as a `name`), are an
/// error naming both places.
///
/// Without it, a bad value is logged once at error level and the default kept.
///
/// Every attribute linked into the program counts, those of other tests of the same test
/// binary included (doctests of edition 2024 are merged into one binary: a doctest that calls
/// `init()` is best marked `standalone_crate`).
///
/// ```rust,standalone_crate
/// fn main() -> Result<(), resilience::ConfigError> {
///     resilience::init()?;
///     // ... start the service
///     Ok(())
/// }
/// ```
pub fn init() -> Result<config::Settings, ConfigError> {
    let settings = config::init()?;
    sites::check()?;
    Ok(settings)
}

// The README's code blocks run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
