//! Misuse that must not compile, each case named for the misuse, with the compiler's message
//! checked in beside it (`.stderr`).
//!
//! Regenerate the messages after a deliberate change with
//! `TRYBUILD=overwrite cargo test -p resilience-ui-tests`, then read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/runtime/*.rs");
}
