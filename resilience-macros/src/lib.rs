//! Procedural macros of the [`resilience`](https://docs.rs/resilience) crate.
//!
//! Use them through `resilience`, which re-exports them.
