//! The `#[circuit_breaker]`, `#[retry]`, `#[fallback]`, `#[timeout]`, `#[bulkhead]` and
//! `#[rate_limit]` attributes of the
//! [`resilience`](https://docs.rs/resilience) crate. Use them through `resilience`, which
//! re-exports them and whose documentation describes them, with every key each accepts:
//! [`#[circuit_breaker]`](https://docs.rs/resilience/latest/resilience/attr.circuit_breaker.html),
//! [`#[retry]`](https://docs.rs/resilience/latest/resilience/attr.retry.html),
//! [`#[fallback]`](https://docs.rs/resilience/latest/resilience/attr.fallback.html).
//!
//! Whatever the order they are written in, and however they are imported or renamed, the
//! attributes of one function make one pipeline,
//! `fallback(retry(circuit_breaker(rate_limit(bulkhead(timeout(body))))))`: each
//! leaves its arguments on one finishing attribute, `__pipeline`, that the first of them
//! appends after all the others, and that emits the whole pipeline. Every configuration that
//! cannot work is a compile error spanned on the offending token; the function is then emitted
//! unchanged beside the errors, so one mistake gives one message.
//!
//! The pipeline reads `parse → check → expand`: `args` parses the attributes into typed
//! settings, `item` checks the function's shape, `expand` writes the code.

mod args;
mod expand;
mod item;

use proc_macro::TokenStream;

use crate::args::Kind;

/// Guards an `async fn` with a named circuit breaker. See
/// [`resilience::circuit_breaker`](https://docs.rs/resilience/latest/resilience/attr.circuit_breaker.html).
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::CircuitBreaker, args.into(), item.into()).into()
}

/// Retries an `async fn` with exponential backoff and jitter. See
/// [`resilience::retry`](https://docs.rs/resilience/latest/resilience/attr.retry.html).
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Retry, args.into(), item.into()).into()
}

/// Falls back to other tiers when an `async fn` fails. See
/// [`resilience::fallback`](https://docs.rs/resilience/latest/resilience/attr.fallback.html).
#[proc_macro_attribute]
pub fn fallback(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Fallback, args.into(), item.into()).into()
}

/// The finishing attribute that the three attributes leave on their function: it emits the
/// pipeline of all of them. Not for direct use.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn __pipeline(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::pipeline(args.into(), item.into()).into()
}

/// Limits each attempt of an `async fn` to a time. See `resilience::timeout`.
#[proc_macro_attribute]
pub fn timeout(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Timeout, args.into(), item.into()).into()
}

/// Runs an `async fn` in a slot of a named bulkhead. See `resilience::bulkhead`.
#[proc_macro_attribute]
pub fn bulkhead(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Bulkhead, args.into(), item.into()).into()
}

/// Runs an `async fn` within a named rate limit. See `resilience::rate_limit`.
#[proc_macro_attribute]
pub fn rate_limit(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::RateLimit, args.into(), item.into()).into()
}
