//! The `metrics` feature: every event's series, and `publish`'s gauges, as a recorder sees them.
//!
//! One test in this binary, so that it can install the recorder globally: the health checks
//! run on tasks of their own, and a local (thread-scoped) recorder would miss nothing today but
//! would tie the test to where the monitor records its results.
#![cfg(feature = "metrics")]

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use resilience::health::HealthMonitor;
use resilience::{
    CircuitBreaker, CircuitBreakerManager, CircuitState, FallbackHandler, RetryError, RetryPolicy,
    Tier,
};

/// A series: its name and its labels, sorted.
type Series = (String, Vec<(String, String)>);

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    let mut labels: Vec<_> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

#[tokio::test(start_paused = true)]
async fn every_event_and_publish_update_their_series() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this binary");
    resilience::metrics::describe();

    let manager = CircuitBreakerManager::new();
    for name in ["met_tier1", "met_tier2"] {
        manager
            .register(
                CircuitBreaker::builder(name)
                    .failure_threshold(2)
                    .recovery_timeout(Duration::from_secs(60))
                    .ignore_env(),
            )
            .unwrap();
    }
    let tier1 = manager.get("met_tier1").unwrap();
    let tier2 = manager.get("met_tier2").unwrap();

    // Registered, not called yet: every series of the breaker is there, at its starting value,
    // so that `rate()` and `increase()` see the first event.
    let at_registration = values(&snapshotter);
    let t1 = [("circuit_breaker", "met_tier1")];
    for (state, value) in [
        ("closed", 1.0),
        ("open", 0.0),
        ("half_open", 0.0),
        ("forced_open", 0.0),
        ("disabled", 0.0),
    ] {
        let labels = [("circuit_breaker", "met_tier1"), ("state", state)];
        assert_eq!(
            gauge(&at_registration, "resilience_circuit_state", &labels),
            value
        );
    }
    assert_eq!(
        counter(&at_registration, "resilience_calls_failed_total", &t1),
        0
    );
    assert_eq!(
        counter(&at_registration, "resilience_calls_rejected_total", &t1),
        0
    );
    for (from, to) in [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
        ("half_open", "open"),
    ] {
        let labels = [("circuit_breaker", "met_tier1"), ("from", from), ("to", to)];
        assert_eq!(
            counter(
                &at_registration,
                "resilience_circuit_transitions_total",
                &labels
            ),
            0
        );
    }
    assert_eq!(
        gauge(
            &at_registration,
            "resilience_circuit_recovery_timeout_seconds",
            &t1
        ),
        60.0
    );

    // Two failures open tier 1; the third call is rejected.
    for _ in 0..2 {
        let _ = tier1.call(|| async { Err::<(), _>("mcp down") }).await;
    }
    assert_eq!(tier1.state(), CircuitState::Open);
    assert!(
        tier1
            .call(|| async { Ok::<_, &str>(()) })
            .await
            .unwrap_err()
            .as_rejected()
            .is_some()
    );

    // Tier 2 succeeds four times and fails once, each call taking 250 ms (of tokio's clock).
    for ok in [true, true, false, true, true] {
        let _ = tier2
            .call(|| async move {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if ok { Ok(()) } else { Err("sdk hiccup") }
            })
            .await;
    }
    // An attribute's call is timed too.
    attributed().await.unwrap();

    // Three attempts: two retried, then exhausted.
    let policy = RetryPolicy::builder()
        .operation("fetch_report")
        .max_attempts(3)
        .base_delay(Duration::from_millis(10))
        .jitter(false)
        .ignore_env()
        .build()
        .unwrap();
    let retried = policy.execute(|| async { Err::<(), _>("timeout") }).await;
    assert!(matches!(retried, Err(RetryError::Exhausted(_))));

    // Tier 1 is open and skipped: tier 2 serves. Then every tier fails.
    let handler = FallbackHandler::new(&manager);
    let served = handler
        .serve(
            [
                Tier::new("met_tier1", async { Err::<&str, &str>("unused") }),
                Tier::new("met_tier2", async { Ok("sdk") }),
            ],
            "get_account",
        )
        .await
        .unwrap();
    assert_eq!(served.position, 1);
    let failed = handler
        .execute_with_fallback(
            [
                Tier::new("met_tier1", async { Ok::<_, &str>("unused") }),
                Tier::new("met_rest", async { Err("rest down") }).unguarded(),
            ],
            "get_contact",
        )
        .await;
    assert!(failed.is_err());

    // Health: one tier passes, one fails.
    let monitor = HealthMonitor::builder()
        .tier("met_tier2", || async { Ok::<(), String>(()) })
        .tier("met_rest", || async { Err::<(), _>("HTTP 503") })
        .build()
        .unwrap();
    let health = monitor.check_all().await;
    assert!(!health.all_healthy);

    resilience::metrics::publish(&manager);

    let values = values(&snapshotter);
    let counter = |name: &str, labels: &[(&str, &str)]| counter(&values, name, labels);
    let gauge = |name: &str, labels: &[(&str, &str)]| gauge(&values, name, labels);
    let state = |name: &str| {
        ["closed", "open", "half_open", "forced_open", "disabled"]
            .into_iter()
            .filter(|state| {
                let labels = [("circuit_breaker", name), ("state", *state)];
                gauge("resilience_circuit_state", &labels) == 1.0
            })
            .collect::<Vec<_>>()
    };

    let t2 = [("circuit_breaker", "met_tier2")];
    // Breakers: one state series at 1, the others at 0.
    assert_eq!(state("met_tier1"), ["open"]);
    assert_eq!(state("met_tier2"), ["closed"]);
    let opened_at = gauge("resilience_circuit_opened_timestamp_seconds", &t1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(opened_at > now - 600.0 && opened_at <= now, "{opened_at}");
    assert_eq!(
        counter(
            "resilience_circuit_transitions_total",
            &[
                ("circuit_breaker", "met_tier1"),
                ("from", "closed"),
                ("to", "open")
            ]
        ),
        1
    );
    assert_eq!(counter("resilience_calls_failed_total", &t1), 2);
    assert_eq!(counter("resilience_calls_failed_total", &t2), 1);
    // Rejected by the direct call, by the first fallback and by the second.
    assert_eq!(counter("resilience_calls_rejected_total", &t1), 3);
    // Retries, by operation.
    let op = [("operation", "fetch_report")];
    assert_eq!(counter("resilience_retry_attempts_total", &op), 2);
    assert_eq!(counter("resilience_retry_exhausted_total", &op), 1);
    // Fallback.
    assert_eq!(
        counter(
            "resilience_fallback_served_total",
            &[("operation", "get_account"), ("tier", "met_tier2")]
        ),
        1
    );
    assert_eq!(
        counter(
            "resilience_all_tiers_failed_total",
            &[("operation", "get_contact")]
        ),
        1
    );
    // Health.
    assert_eq!(
        gauge("resilience_tier_healthy", &[("tier", "met_tier2")]),
        1.0
    );
    assert_eq!(
        gauge("resilience_tier_healthy", &[("tier", "met_rest")]),
        0.0
    );
    // `publish`: tier 2's window holds its five calls and the fallback's success.
    assert_eq!(gauge("resilience_circuit_window_calls", &t2), 6.0);
    assert!((gauge("resilience_circuit_failure_ratio", &t2) - 1.0 / 6.0).abs() < 1e-9);
    assert_eq!(gauge("resilience_circuit_failures", &t1), 2.0);
    assert_eq!(gauge("resilience_circuit_failures", &t2), 0.0);
    // Latency and successes: one histogram per breaker and outcome, in seconds.
    let durations = |name: &str, outcome: &str| {
        let labels = [("circuit_breaker", name), ("outcome", outcome)];
        match get(&values, "resilience_call_duration_seconds", &labels) {
            DebugValue::Histogram(samples) => {
                samples.iter().map(|s| s.into_inner()).collect::<Vec<_>>()
            }
            other => panic!("not a histogram: {other:?}"),
        }
    };
    assert_eq!(
        durations("met_tier2", "success"),
        [0.25, 0.25, 0.25, 0.25, 0.0]
    );
    assert_eq!(durations("met_tier2", "failure"), [0.25]);
    assert_eq!(durations("met_tier1", "failure"), [0.0, 0.0]);
    assert_eq!(durations("met_attr", "success"), [0.1]);
    // No gauge is named like a counter, no ratio without `_ratio`.
    for (name, _) in values.keys() {
        for old in ["_total_calls", "_error_rate", "_failure_count"] {
            assert!(!name.contains(old), "{name}");
        }
    }
}

#[resilience::circuit_breaker(name = "met_attr")]
async fn attributed() -> Result<(), resilience::Error> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}

type Values = HashMap<Series, DebugValue>;

fn values(snapshotter: &metrics_util::debugging::Snapshotter) -> Values {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (_, key) = key.into_parts();
            let (name, labels) = key.into_parts();
            let mut labels: Vec<_> = labels
                .into_iter()
                .map(|l| {
                    let (k, v) = l.into_parts();
                    (k.to_string(), v.to_string())
                })
                .collect();
            labels.sort();
            ((name.as_str().to_owned(), labels), value)
        })
        .collect()
}

fn get<'v>(values: &'v Values, name: &str, labels: &[(&str, &str)]) -> &'v DebugValue {
    values
        .get(&series(name, labels))
        .unwrap_or_else(|| panic!("no series {name} {labels:?} among {values:#?}"))
}

fn counter(values: &Values, name: &str, labels: &[(&str, &str)]) -> u64 {
    match get(values, name, labels) {
        DebugValue::Counter(n) => *n,
        other => panic!("{name} is not a counter: {other:?}"),
    }
}

fn gauge(values: &Values, name: &str, labels: &[(&str, &str)]) -> f64 {
    match get(values, name, labels) {
        DebugValue::Gauge(v) => v.into_inner(),
        other => panic!("{name} is not a gauge: {other:?}"),
    }
}
