//! One shape of one library in a loop, for `valgrind --tool=callgrind` and `perf stat`:
//!
//! ```text
//! cargo build --release -p resilience-benches --example shape
//! valgrind --tool=callgrind --toggle-collect='*shape*measured*' \
//!     target/release/examples/shape closed_success resilience 100000
//! ```
//!
//! Only `measured` is collected, so the instruction count divided by the calls is the cost of
//! one call. Shapes: `closed_success`, `closed_failure`, `open_reject`, `half_open`. Libraries:
//! `floor` (one `AtomicU64::fetch_add`), `resilience` (sync permits), `resilience_call` (async),
//! `resilience_attr`, `failsafe`, `failsafe_async`, `recloser`, `recloser_async`,
//! `tower_resilience`.

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use resilience_benches::{Attribute, AttributeProbe, Calls, HALF_OPEN_CHUNK, Permits, Subject};

#[path = "../shared/peers.rs"]
mod peers;

use peers::{FailsafeAsync, FailsafeSync, RecloserAsync, RecloserSync, Tower};

#[inline(never)]
fn measured<S: Subject>(subject: &mut S, alternate: bool, calls: u64) {
    for i in 0..calls {
        black_box(subject.call(black_box(alternate && i % 2 == 0)));
    }
}

#[inline(never)]
fn measured_floor(counter: &AtomicU64, calls: u64) {
    for _ in 0..calls {
        black_box(counter.fetch_add(1, Ordering::AcqRel));
    }
}

fn run<S: Subject>(shape: &str, calls: u64) -> Result<u64, String> {
    let (mut subject, calls) = match shape {
        "closed_success" | "closed_failure" => (S::closed(), calls),
        "open_reject" => (S::tripped(), calls),
        "half_open" => (
            S::half_open().ok_or_else(|| format!("{} has no steady half-open state", S::NAME))?,
            calls.min(HALF_OPEN_CHUNK),
        ),
        _ => return Err(format!("unknown shape {shape}")),
    };
    measured(&mut subject, shape == "closed_failure", calls);
    Ok(calls)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [shape, library, calls] = &args[..] else {
        eprintln!("usage: shape <shape> <library> <calls>");
        return ExitCode::FAILURE;
    };
    let Ok(calls) = calls.parse::<u64>() else {
        eprintln!("<calls> is a number");
        return ExitCode::FAILURE;
    };
    let start = Instant::now();
    let done = match library.as_str() {
        "floor" => {
            measured_floor(&AtomicU64::new(0), calls);
            Ok(calls)
        }
        "resilience" => run::<Permits>(shape, calls),
        "resilience_call" => run::<Calls>(shape, calls),
        "resilience_attr" if shape == "half_open" => run::<AttributeProbe>(shape, calls),
        "resilience_attr" => run::<Attribute>(shape, calls),
        "failsafe" => run::<FailsafeSync>(shape, calls),
        "failsafe_async" => run::<FailsafeAsync>(shape, calls),
        "recloser" => run::<RecloserSync>(shape, calls),
        "recloser_async" => run::<RecloserAsync>(shape, calls),
        "tower_resilience" => run::<Tower>(shape, calls),
        other => Err(format!("unknown library {other}")),
    };
    match done {
        Ok(calls) => {
            let ns = start.elapsed().as_nanos() as f64 / calls as f64;
            println!("{shape} {library}: {calls} calls, {ns:.1} ns per call (setup included)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
