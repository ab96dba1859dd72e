//! The fleet demo's scenario, shortened, with four replica processes and a real
//! `redis-server`: it checks the summary's claims. Tier 1's failures stop once one replica's
//! breaker opens (every other replica opens from the fleet, failing no call of its own
//! beyond those made before the first open), the recovery takes no more probes than one
//! breaker's `half_open_max_calls`, and no request is lost. The live view shows the fleet's
//! bulkhead slots and rate-limiter credits as Redis holds them (each replica's without the
//! fleet).
//!
//! No test harness: the replicas are this binary again, run with `--replica`. Fails with the
//! install hint when `redis-server` is missing.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_examples::fleet::view::{CREDITS_BURST, ORG_SLOTS};
use resilience_examples::fleet::{
    self, FleetConfig, FleetFrame, FleetReport, FleetScenario, LimitsView, ReplicaSettings,
    TIER1_HALF_OPEN, TIER1_THRESHOLD,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    if let Some(("--replica", settings)) = args.split_first().map(|(f, r)| (f.as_str(), r)) {
        let settings = ReplicaSettings::parse(settings).expect("the demo's settings");
        return match runtime.block_on(fleet::replica::serve(settings)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("replica: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // `cargo test -- --list` and filters: one test, run unless filtered out.
    if args.iter().any(|a| a == "--list") {
        println!("fleet_demo: test");
        return ExitCode::SUCCESS;
    }
    println!("running the fleet demo's scenario, shortened, with and without the fleet");
    runtime.block_on(the_fleet_opens_and_closes_tier1_with_few_calls());
    println!("test the_fleet_opens_and_closes_tier1_with_few_calls ... ok");
    runtime.block_on(without_the_fleet_every_replica_fails_and_probes_alone());
    println!("test without_the_fleet_every_replica_fails_and_probes_alone ... ok");
    ExitCode::SUCCESS
}

fn config(fleet: bool) -> FleetConfig {
    FleetConfig {
        replicas: 4,
        warmup_requests: 4,
        burst: 40,
        // Generous for a loaded machine: a healthy loopback answer takes milliseconds.
        client_timeout: Duration::from_millis(1000),
        op_timeout: Duration::from_millis(1000),
        reconcile_interval: Duration::from_millis(500),
        fleet,
        ..FleetConfig::default()
    }
}

async fn play(config: FleetConfig) -> (FleetReport, Vec<FleetFrame>) {
    let program = std::env::current_exe().expect("this test's binary");
    let mut scenario = match FleetScenario::start(config, program, Vec::new()).await {
        Ok(scenario) => scenario,
        // No redis-server: the error carries the install hint.
        Err(e) => panic!("{e}"),
    };
    let frames = Arc::new(Mutex::new(Vec::new()));
    let drawn = Arc::clone(&frames);
    scenario.on_frame(move |frame| drawn.lock().unwrap().push(frame.clone()));
    let report = tokio::time::timeout(Duration::from_secs(120), scenario.run())
        .await
        .expect("the scenario ends within two minutes")
        .expect("the scenario runs");
    for line in report.summary() {
        println!("{line}");
    }
    assert_eq!(report.lost, 0, "no request lost: {report:?}");
    assert_eq!(
        report.served.iter().sum::<usize>() + report.all_tiers_failed,
        report.requests,
        "{report:?}"
    );
    let burst = report.burst.expect("a burst");
    assert_eq!(
        burst.served + burst.shed + burst.failed,
        burst.issued,
        "{burst:?}"
    );
    let frames = std::mem::take(&mut *frames.lock().unwrap());
    assert!(
        frames.iter().any(|f| f.phase == "burst"),
        "frames during the burst"
    );
    (report, frames)
}

async fn the_fleet_opens_and_closes_tier1_with_few_calls() {
    let (report, frames) = play(config(true)).await;
    // The view shows the fleet's limits, read from Redis at every frame.
    for frame in &frames {
        let line = frame.line();
        match frame.limits {
            LimitsView::Fleet {
                slots,
                replicas,
                credits,
            } => {
                assert_eq!((slots.1, credits.1), (ORG_SLOTS, CREDITS_BURST), "{line}");
                assert!(slots.0 <= ORG_SLOTS && replicas <= 4, "{line}");
                assert!(credits.0 <= u64::from(CREDITS_BURST), "{line}");
                let shown = format!(
                    "fleet {}/{ORG_SLOTS} slots, {}/{CREDITS_BURST} credits",
                    slots.0, credits.0
                );
                assert!(line.contains(&shown), "{line}");
            }
            ref other => panic!("the fleet's limits unread: {other:?} in {line}"),
        }
    }
    // Once the replicas call Zoho, they hold slots and credits of the fleet's.
    assert!(
        frames.iter().any(|f| matches!(f.limits,
            LimitsView::Fleet { slots, credits, .. }
                if slots.0 > 0 && credits.0 < u64::from(CREDITS_BURST))),
        "{:#?}",
        frames.iter().map(FleetFrame::line).collect::<Vec<_>>()
    );
    // The client's bulkhead and rate limiter are the fleet's: the replicas together keep
    // within the organisation's limits, and Zoho never answers 429.
    let burst = report.burst.expect("a burst");
    assert_eq!(burst.too_many_requests, 0, "{burst:?}");
    assert!(burst.peak_in_flight <= 15, "{burst:?}");
    let n = report.config.replicas;
    let o = report.opening;
    assert!(o.all_opened, "every replica's breaker opened: {o:?}");
    // The fleet counts failures: requests go one at a time, so the fleet opens after
    // `threshold` failed calls in all, plus at most the attempts of one request made while the
    // last failure was on its way to Redis (3 attempts), and none fails after the first open.
    assert_eq!(
        o.failed_before_all_open, o.failed_before_first_open,
        "no replica failed a call once the first had opened: {o:?}"
    );
    assert!(
        o.failed_before_all_open <= TIER1_THRESHOLD as usize + 3,
        "{o:?}"
    );
    assert!(o.failed_before_all_open < o.without_fleet, "{o:?}");
    assert_eq!(o.without_fleet, n * TIER1_THRESHOLD as usize);

    let c = report.closing;
    assert!(c.all_closed, "every replica's breaker closed: {c:?}");
    assert!(
        c.probes >= 1 && c.probes <= TIER1_HALF_OPEN as usize,
        "the fleet's probes stay within half_open_max_calls: {c:?}"
    );
}

/// The same scenario, each replica deciding alone: the figures the fleet's are compared
/// with, and what the checks above catch.
async fn without_the_fleet_every_replica_fails_and_probes_alone() {
    let (report, frames) = play(config(false)).await;
    for frame in &frames {
        assert_eq!(
            frame.limits,
            LimitsView::EachReplica {
                slots: ORG_SLOTS,
                credits: CREDITS_BURST
            }
        );
        let line = frame.line();
        assert!(
            line.contains("limits each replica's: 15 slots, 100 credits"),
            "{line}"
        );
    }
    let n = report.config.replicas;
    let o = report.opening;
    assert!(o.all_opened, "{o:?}");
    assert_eq!(
        o.failed_before_all_open,
        n * TIER1_THRESHOLD as usize,
        "{o:?}"
    );
    assert!(
        o.failed_before_first_open < o.failed_before_all_open,
        "{o:?}"
    );
    let c = report.closing;
    assert!(
        c.probes > TIER1_HALF_OPEN as usize,
        "each replica probed alone: {c:?}"
    );
}
