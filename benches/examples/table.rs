//! Prints the tables of BENCHMARKS.md (the breaker's, then the limits') from criterion's
//! estimates of the last run:
//!
//! ```text
//! cargo bench -p resilience-benches -- --warm-up-time 1 --measurement-time 2
//! cargo run -p resilience-benches --example table [target/criterion]
//! ```
//!
//! Medians in ns per call; ratios are ours over the fastest peer and over the single-atomic
//! floor (one `AtomicU64::fetch_add`, or two threads doing it on one counter for `contended`),
//! both from the same run. Estimates left over from an earlier run (older than this run's
//! baseline) are shown as `n/a`: run the whole suite, not a filtered part, before the table.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

const PEERS: [&str; 3] = ["failsafe", "recloser", "tower_resilience"];

/// The shapes, in the order of the table.
const SHAPES: [&str; 14] = [
    "closed_success",
    "closed_success_async",
    "closed_failure",
    "closed_failure_async",
    "open_reject",
    "open_reject_async",
    "half_open",
    "half_open_async",
    "contended",
    "contended_async",
    "retry_success",
    "fallback_success",
    "full_stack_success",
    "registry_get",
];

/// The floor a shape is compared with: one `fetch_add`, or two threads doing it on one counter.
fn floor_of(group: &str) -> Option<(&'static str, &'static str)> {
    if group.starts_with("contended") {
        Some(("contended", "atomic_fetch_add"))
    } else if group.starts_with("closed") || group.starts_with("open") || group.starts_with("half")
    {
        Some(("baseline", "atomic_fetch_add"))
    } else {
        None
    }
}

fn estimates(root: &Path, group: &str, id: &str) -> PathBuf {
    root.join(group).join(id).join("new").join("estimates.json")
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

/// The median of `group/id`, in ns, if it was measured in the last run: the run starts with the
/// baseline, so an estimate older than the baseline's is left over from an earlier run.
fn median(root: &Path, group: &str, id: &str) -> Option<f64> {
    let path = estimates(root, group, id);
    let run_start = modified(&estimates(root, "baseline", "inlined_ok"))?;
    if modified(&path)? < run_start {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn cell(v: Option<f64>) -> String {
    match v {
        Some(ns) if ns < 10.0 => format!("{ns:.2}"),
        Some(ns) => format!("{ns:.1}"),
        None => "n/a".to_owned(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}x", a / b),
        _ => "".to_owned(),
    }
}

/// The limits' rows: (group, our id, the id compared with, the ratio the target asks for). The
/// attributes are compared with the runtime call they stand for; the tower layers with tower's.
const LIMITS: [(&str, &str, &str, Option<f64>); 13] = [
    ("rate_limit", "resilience", "governor", Some(0.8)),
    ("rate_limit_contended", "resilience", "governor", Some(0.5)),
    ("bulkhead", "resilience", "tokio_semaphore", Some(0.5)),
    (
        "bulkhead",
        "resilience",
        "tower_concurrency_limit",
        Some(0.5),
    ),
    ("timeout", "resilience", "tokio", Some(1.1)),
    (
        "rate_limit",
        "resilience_attribute",
        "resilience_run",
        Some(1.1),
    ),
    (
        "bulkhead",
        "resilience_attribute",
        "resilience_run",
        Some(1.1),
    ),
    ("timeout", "resilience_attribute", "resilience", Some(1.1)),
    (
        "tower_bulkhead",
        "resilience",
        "tower_concurrency_limit",
        None,
    ),
    ("tower_rate_limit", "resilience", "tower_rate_limit", None),
    ("tower_retry", "resilience", "tower_retry", None),
    (
        "tower_retry",
        "resilience_tps_budget",
        "tower_retry_tps_budget",
        None,
    ),
    ("rate_limit", "resilience_run", "governor", None),
];

fn limits_table(root: &Path) {
    println!("\n| shape | ours | ours' median | compared with | its median | ratio | target |");
    println!("|---|---|--:|---|--:|--:|--:|");
    for (group, ours_id, peer, target) in LIMITS {
        let ours = median(root, group, ours_id);
        let theirs = median(root, group, peer);
        if ours.is_none() && theirs.is_none() {
            continue;
        }
        let target = target.map_or(String::new(), |t| format!("{t:.1}x"));
        println!(
            "| {group} | {ours_id} | {} | {peer} | {} | {} | {target} |",
            cell(ours),
            cell(theirs),
            ratio(ours, theirs),
        );
    }
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
            Path::new(&target).join("criterion")
        });
    let base = |id| median(&root, "baseline", id);
    println!(
        "baseline: inlined fn returning Ok {} ns, single-atomic floor (fetch_add) {} ns\n",
        cell(base("inlined_ok")),
        cell(base("atomic_fetch_add"))
    );
    println!(
        "| shape | resilience | resilience_attr | failsafe | recloser | tower_resilience \
         | ours / best peer | attr / best peer | attr / ours | ours / floor |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for group in SHAPES {
        let ours = median(&root, group, "resilience");
        let attr = median(&root, group, "resilience_attr");
        let peers: Vec<Option<f64>> = PEERS.iter().map(|p| median(&root, group, p)).collect();
        let best = peers.iter().flatten().copied().reduce(f64::min);
        let floor = floor_of(group).and_then(|(g, id)| median(&root, g, id));
        println!(
            "| {group} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(ours),
            cell(attr),
            cell(peers[0]),
            cell(peers[1]),
            cell(peers[2]),
            ratio(ours, best),
            ratio(attr, best),
            ratio(attr, ours),
            ratio(ours, floor),
        );
    }
    limits_table(&root);
}
