//! The Zoho demo's scenario, shortened, over real HTTP on loopback: the breakers move in the
//! guide's order, each phase is served by the tier it should be, tier 1 is left alone while its
//! breaker is open, and no request is lost.
//!
//! The breakers live in the global registry, so this binary runs the scenario once, in its
//! single test. It checks phase outcomes, not per-request timing, and its timeouts are generous
//! for a loaded machine.

use std::time::Duration;

use resilience::CircuitState::{self, Closed, HalfOpen, Open};
use resilience_examples::zoho::scenario::{Report, TimedChange};
use resilience_examples::zoho::{Scenario, ScenarioConfig, TierId};

fn transitions(changes: &[&TimedChange]) -> Vec<(CircuitState, CircuitState)> {
    changes
        .iter()
        .map(|c| (c.change.old_state, c.change.new_state))
        .collect()
}

/// Each change starts where the previous one ended, from closed, along the guide's diagram.
fn assert_valid_path(breaker: &str, path: &[(CircuitState, CircuitState)]) {
    let mut state = Closed;
    for &(old, new) in path {
        assert_eq!(old, state, "{breaker}: {path:?} does not chain");
        assert!(
            matches!(
                (old, new),
                (Closed, Open) | (Open, HalfOpen) | (HalfOpen, Open) | (HalfOpen, Closed)
            ),
            "{breaker}: {old} -> {new} is not a transition of the guide's diagram"
        );
        state = new;
    }
}

fn phase_window(report: &Report, number: usize) -> (Duration, Duration) {
    let start = report.phases[number - 1].started;
    (start, start + report.phases[number - 1].duration)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_phases_fail_over_and_recover() {
    let config = ScenarioConfig {
        requests_per_phase: 8,
        interval: Duration::from_millis(50),
        // No background faults: each phase's outcome is then certain.
        fault_rate: 0.0,
        // Generous for a loaded machine: a healthy loopback answer takes milliseconds.
        client_timeout: Duration::from_millis(600),
        health_interval: Duration::from_millis(500),
        settle_requests: 3,
        settle_timeout: Duration::from_secs(12),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start(config).await.expect("servers start");
    let report = tokio::time::timeout(Duration::from_secs(60), scenario.run())
        .await
        .expect("the scenario ends")
        .expect("the scenario runs and its counts add up");
    let log: Vec<String> = report
        .log
        .iter()
        .map(|r| {
            format!(
                "#{} phase {} {:?} {:?}",
                r.seq, r.phase, r.outcome, r.attempts
            )
        })
        .collect();
    let context = format!("{:#?}\n{}", report.state_changes, log.join("\n"));

    // No request lost: every one served by a tier or reported as all-tiers-failed.
    let t = report.requests;
    assert_eq!(t.served.total() + t.all_tiers_failed, t.issued, "{context}");
    assert_eq!(t.other_errors, 0, "{context}");
    assert_eq!(
        t.all_tiers_failed, 0,
        "one tier was always healthy: {context}"
    );
    assert!(t.issued >= 32, "4 phases of 8 requests at least");
    for phase in &report.phases {
        let p = phase.requests;
        assert_eq!(p.served.total() + p.all_tiers_failed, p.issued, "{context}");
    }
    assert!(report.check_accounting().is_ok());

    // Who served: tier1, then tier2, then tier3, and tier1 again at the end.
    for (number, tier) in [(1, TierId::Mcp), (2, TierId::Sdk), (3, TierId::Rest)] {
        let phase = &report.phases[number - 1];
        assert_eq!(
            phase.requests.served.most(),
            Some(tier),
            "phase {number}: {:?}\n{context}",
            phase.requests
        );
        assert_eq!(
            phase.last_served_by,
            Some(tier),
            "phase {number}\n{context}"
        );
    }
    assert_eq!(
        report.phases[0].requests.served.tier1_mcp, 8,
        "phase 1: tier1 serves every request\n{context}"
    );
    let last = &report.phases[3];
    assert_eq!(last.last_served_by, Some(TierId::Mcp), "{context}");
    let tail: Vec<_> = report.log.iter().rev().take(3).collect();
    assert!(
        tail.iter().all(|r| r.served_by() == Some(TierId::Mcp)),
        "tier1 took the traffic back: {context}"
    );

    // tier1's breaker: opened in phase 2, and closed again by half-open probes at the end.
    let tier1 = report.changes_of("tier1_mcp");
    let path = transitions(&tier1);
    assert_valid_path("tier1_mcp", &path);
    assert_eq!(path.first(), Some(&(Closed, Open)), "{context}");
    assert_eq!(path.last(), Some(&(HalfOpen, Closed)), "{context}");
    let (start2, end2) = phase_window(&report, 2);
    assert!(
        (start2..=end2).contains(&tier1[0].since_start),
        "tier1 opened during phase 2\n{context}"
    );
    assert_eq!(report.metrics["tier1_mcp"].state, Closed);

    // tier2's breaker: opened in phase 3, when its tier became too slow.
    let tier2 = report.changes_of("tier2_sdk");
    let path = transitions(&tier2);
    assert_valid_path("tier2_sdk", &path);
    assert_eq!(path.first(), Some(&(Closed, Open)), "{context}");
    let (start3, end3) = phase_window(&report, 3);
    assert!(
        (start3..=end3).contains(&tier2[0].since_start),
        "tier2 opened during phase 3\n{context}"
    );

    // tier3 never failed.
    assert!(report.changes_of("tier3_rest").is_empty(), "{context}");

    // While its breaker was open, tier1's server received nothing: only half-open probes
    // (at least the two that closed it) got through.
    let server1 = report.server(TierId::Mcp);
    assert_eq!(server1.while_open, 0, "{server1:?}\n{context}");
    assert!(server1.while_half_open >= 2, "{server1:?}\n{context}");
    assert_eq!(
        server1.received,
        server1.while_closed + server1.while_open + server1.while_half_open
    );

    // The burst: the client's bulkhead queued what the org's concurrency could not take yet,
    // its rate limiter shed what the credits could not pay for, and Zoho never answered 429.
    let burst = report.burst.expect("a burst by default");
    assert_eq!(burst.issued, 200);
    assert_eq!(burst.too_many_requests, 0, "{burst:?}");
    assert!(burst.peak_in_flight <= 15, "{burst:?}");
    assert_eq!(burst.failed, 0, "every tier answered: {burst:?}");
    assert!(
        burst.served >= 100,
        "the credits' burst was served: {burst:?}"
    );
    assert!(
        burst.shed > 0,
        "past the credits, the client shed: {burst:?}"
    );
    assert!(
        burst.peak_queued > 0,
        "past the concurrency, calls queued: {burst:?}"
    );
    assert_eq!(burst.served + burst.shed, 200, "{burst:?}");

    // The JSON report has the guide's metrics structure.
    let json = serde_json::to_value(&report).unwrap();
    let metrics = &json["metrics"]["tier1_mcp"];
    for field in [
        "state",
        "failure_count",
        "success_count",
        "total_calls",
        "error_rate",
        "last_failure_time",
        "time_until_retry_seconds",
    ] {
        assert!(metrics.get(field).is_some(), "metrics.{field} in {metrics}");
    }
    assert_eq!(metrics["state"], "closed");
    assert_eq!(json["state_changes"][0]["circuit_breaker"], "tier1_mcp");
    assert_eq!(json["state_changes"][0]["new_state"], "open");
    assert_eq!(json["requests"]["issued"], t.issued);
}
