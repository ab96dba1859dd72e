//! The reference: chapters on the crate as a whole, beside the docs of each item. No code.
//!
//! The behaviour, names, defaults, metrics and log fields follow the *Circuit Breaker Pattern
//! Guide* (called "the guide" in these pages): a breaker opens after 5 consecutive failures,
//! waits 60 s before letting 3 probe calls through, and closes after 2 of them succeed; a retry
//! makes 3 attempts in all, waiting 1 s, 2 s, 4 s... (at most 60 s) with jitter; health checks
//! run every 30 s.
//!
//! * [`configuration`]: every setting with its default, environment variable and rule; which
//!   value wins; names; configuration files; presets; tests on tokio's paused clock.
//! * [`behaviour`]: each state of a breaker, how the attributes compose, permits.
//! * [`runtime`]: the runtime types one by one (breaker, registry, retry, fallback, health,
//!   `tower`), with the guide's examples.
//! * [`errors`]: the error types, and what a function under the attributes returns.
//! * [`observability`]: a breaker's metrics, tracing events, subscriptions, the `metrics`
//!   feature's series, the operator view and the alert rules.
//! * [`troubleshooting`]: a circuit stuck open, a flapping one, a high error rate, and more.
//! * [`production`]: the guide's production checklist, item by item.
//! * [`from_python`]: the guide's Python API and its Rust form.

#[doc = include_str!("configuration.md")]
pub mod configuration {}

#[doc = include_str!("behaviour.md")]
pub mod behaviour {}

#[doc = include_str!("runtime.md")]
pub mod runtime {}

#[doc = include_str!("errors.md")]
pub mod errors {}

#[doc = include_str!("observability.md")]
pub mod observability {}

#[doc = include_str!("troubleshooting.md")]
pub mod troubleshooting {}

#[doc = include_str!("production.md")]
pub mod production {}

#[doc = include_str!("from_python.md")]
pub mod from_python {}
