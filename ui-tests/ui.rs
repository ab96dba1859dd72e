//! Misuse that must not compile, each case named for the misuse, with the compiler's message
//! checked in beside it (`.stderr`): one folder per attribute (`circuit_breaker/`, `retry/`,
//! `fallback/`, `timeout/`, `bulkhead/`, `rate_limit/`), then the function's shape (`shape/`), the type rules (`types/`), attributes
//! used together (`combined/`), the body's own control flow (`control_flow/`) and the lints the
//! function keeps (`lints/`). `pass/` holds every supported shape, compiled and run.
//!
//! Regenerate the messages after a deliberate change with
//! `TRYBUILD=overwrite cargo test -p resilience-ui-tests`, then read the diff.
//!
//! The messages are the compiler's, and change between its versions: they are pinned to the
//! toolchain below, CI's. On another toolchain the compile-fail cases are skipped (with a note)
//! and the pass cases still run; regenerate the files and update the pin to move to it.

use std::process::Command;

/// The `rustc` whose messages the `.stderr` files hold.
const STDERR_TOOLCHAIN: &str = "rustc 1.95.0 ";

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    if pinned_toolchain() {
        for group in [
            "runtime",
            "circuit_breaker",
            "retry",
            "fallback",
            "timeout",
            "bulkhead",
            "rate_limit",
            "shape",
            "types",
            "combined",
            "control_flow",
            "lints",
        ] {
            t.compile_fail(format!("tests/ui/{group}/*.rs"));
        }
    }
    t.pass("tests/ui/pass/*.rs");
}

fn pinned_toolchain() -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(rustc)
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let pinned = version.starts_with(STDERR_TOOLCHAIN);
    if !pinned {
        eprintln!(
            "note: the .stderr files are pinned to `{}`, this is `{}`: compile-fail cases skipped",
            STDERR_TOOLCHAIN.trim(),
            version.trim()
        );
    }
    pinned
}
