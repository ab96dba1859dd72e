//! The reusable parts of the example programs of [`resilience`].
//!
//! [`zoho`] is a local stand-in for Zoho CRM with three tiers, a client whose methods carry the
//! guide's multi-tier configuration (`#[fallback]`, `#[retry]`, `#[circuit_breaker]`), and a
//! scripted scenario that fails the tiers one after the other. The `zoho_demo` example drives it
//! and draws it; `tests/zoho_scenario.rs` checks what it reports.

#![warn(missing_docs)]

pub mod zoho;
