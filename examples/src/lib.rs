//! The reusable parts of the example programs of [`resilience`].
//!
//! [`zoho`] is a local stand-in for Zoho CRM with three tiers, a client whose methods carry the
//! guide's multi-tier configuration (`#[fallback]`, `#[retry]`, `#[circuit_breaker]`), and a
//! scripted scenario that fails the tiers one after the other. The `zoho_demo` example drives it
//! and draws it; `tests/zoho_scenario.rs` checks what it reports.
//!
//! [`fleet`] runs the same client as several replica processes sharing their breakers through
//! Redis; the `fleet_demo` example drives it.
//!
//! [`operator`] serves an operator's view of the breakers on loopback: `/metrics` for
//! Prometheus and `/status` as JSON. The `operator` example runs it; `tests/operator.rs` fetches
//! both.

#![warn(missing_docs)]

pub mod fleet;
pub mod operator;
pub mod zoho;
