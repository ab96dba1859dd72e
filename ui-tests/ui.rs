//! Misuse that must not compile, each case named for the misuse, with the compiler's message
//! checked in beside it (`.stderr`): one folder per attribute (`circuit_breaker/`, `retry/`,
//! `fallback/`), then the function's shape (`shape/`), the type rules (`types/`) and attributes
//! used together (`combined/`). `pass/` holds every supported shape, compiled and run.
//!
//! Regenerate the messages after a deliberate change with
//! `TRYBUILD=overwrite cargo test -p resilience-ui-tests`, then read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/runtime/*.rs");
    t.compile_fail("tests/ui/circuit_breaker/*.rs");
    t.compile_fail("tests/ui/retry/*.rs");
    t.compile_fail("tests/ui/fallback/*.rs");
    t.compile_fail("tests/ui/shape/*.rs");
    t.compile_fail("tests/ui/types/*.rs");
    t.compile_fail("tests/ui/combined/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
