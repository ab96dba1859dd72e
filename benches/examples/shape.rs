//! One shape of one library in a loop, for `valgrind --tool=callgrind` and `perf stat`:
//!
//! ```text
//! cargo build --release -p resilience-benches --example shape
//! valgrind --tool=callgrind --toggle-collect='*shape*measured*' \
//!     target/release/examples/shape closed_success resilience 100000
//! ```
//!
//! Only `measured` is collected, so the instruction count divided by the calls is the cost of
//! one call. A fourth argument, `shape <shape> <library> <calls> <batches>`, times the calls in
//! that many batches and prints the fastest batch and the median one: on a machine shared with
//! other work, the fastest batch moves least between runs (compare builds in alternation).
//!
//! Shapes: `closed_success`, `closed_failure`, `open_reject`, `half_open`. Libraries:
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

/// Nanoseconds per call of each batch, sorted.
type Batches = Vec<f64>;

fn run<S: Subject>(shape: &str, calls: u64, batches: u64) -> Result<(u64, Batches), String> {
    let (mut subject, calls) = match shape {
        "closed_success" | "closed_failure" => (S::closed(), calls),
        "open_reject" => (S::tripped(), calls),
        "half_open" => (
            S::half_open().ok_or_else(|| format!("{} has no steady half-open state", S::NAME))?,
            calls.min(HALF_OPEN_CHUNK),
        ),
        _ => return Err(format!("unknown shape {shape}")),
    };
    let alternate = shape == "closed_failure";
    if batches <= 1 {
        measured(&mut subject, alternate, calls);
        return Ok((calls, Vec::new()));
    }
    let per_batch = (calls / batches).max(1);
    let mut times: Batches = (0..batches)
        .map(|_| {
            let start = Instant::now();
            measured(&mut subject, alternate, per_batch);
            start.elapsed().as_nanos() as f64 / per_batch as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Ok((per_batch * batches, times))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (shape, library, calls, batches) = match &args[..] {
        [shape, library, calls] => (shape, library, calls, "1"),
        [shape, library, calls, batches] => (shape, library, calls, batches.as_str()),
        _ => {
            eprintln!("usage: shape <shape> <library> <calls> [<batches>]");
            return ExitCode::FAILURE;
        }
    };
    let (Ok(calls), Ok(batches)) = (calls.parse::<u64>(), batches.parse::<u64>()) else {
        eprintln!("<calls> and <batches> are numbers");
        return ExitCode::FAILURE;
    };
    let start = Instant::now();
    let done = match library.as_str() {
        "floor" => {
            measured_floor(&AtomicU64::new(0), calls);
            Ok((calls, Vec::new()))
        }
        "resilience" => run::<Permits>(shape, calls, batches),
        "resilience_call" => run::<Calls>(shape, calls, batches),
        "resilience_attr" if shape == "half_open" => run::<AttributeProbe>(shape, calls, batches),
        "resilience_attr" => run::<Attribute>(shape, calls, batches),
        "failsafe" => run::<FailsafeSync>(shape, calls, batches),
        "failsafe_async" => run::<FailsafeAsync>(shape, calls, batches),
        "recloser" => run::<RecloserSync>(shape, calls, batches),
        "recloser_async" => run::<RecloserAsync>(shape, calls, batches),
        "tower_resilience" => run::<Tower>(shape, calls, batches),
        other => Err(format!("unknown library {other}")),
    };
    match done {
        Ok((calls, times)) if times.is_empty() => {
            let ns = start.elapsed().as_nanos() as f64 / calls as f64;
            println!("{shape} {library}: {calls} calls, {ns:.1} ns per call (setup included)");
            ExitCode::SUCCESS
        }
        Ok((calls, times)) => {
            let (fastest, median) = (times[0], times[times.len() / 2]);
            println!(
                "{shape} {library}: {calls} calls in {} batches, ns per call: fastest batch \
                 {fastest:.2}, median {median:.2}",
                times.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
