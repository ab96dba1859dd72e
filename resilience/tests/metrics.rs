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

    // Tier 2 succeeds four times and fails once: only `publish` sees the successes.
    for ok in [true, true, false, true, true] {
        let _ = tier2
            .call(|| async move { if ok { Ok(()) } else { Err("sdk hiccup") } })
            .await;
    }

    // Three attempts: two retried, then exhausted.
    let policy = RetryPolicy::builder()
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

    let values: HashMap<Series, DebugValue> = snapshotter
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
        .collect();
    let get = |name: &str, labels: &[(&str, &str)]| {
        values
            .get(&series(name, labels))
            .unwrap_or_else(|| panic!("no series {name} {labels:?} among {values:#?}"))
    };
    let counter = |name: &str, labels: &[(&str, &str)]| match get(name, labels) {
        DebugValue::Counter(n) => *n,
        other => panic!("{name} is not a counter: {other:?}"),
    };
    let gauge = |name: &str, labels: &[(&str, &str)]| match get(name, labels) {
        DebugValue::Gauge(v) => v.into_inner(),
        other => panic!("{name} is not a gauge: {other:?}"),
    };

    let t1 = [("circuit_breaker", "met_tier1")];
    let t2 = [("circuit_breaker", "met_tier2")];
    // Breakers.
    assert_eq!(gauge("resilience_circuit_state", &t1), 1.0);
    assert_eq!(gauge("resilience_circuit_state", &t2), 0.0);
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
    // Retries.
    assert_eq!(counter("resilience_retry_attempts_total", &[]), 2);
    assert_eq!(counter("resilience_retry_exhausted_total", &[]), 1);
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
    assert_eq!(gauge("resilience_circuit_total_calls", &t2), 6.0);
    assert!((gauge("resilience_circuit_error_rate", &t2) - 1.0 / 6.0).abs() < 1e-9);
    assert_eq!(gauge("resilience_circuit_failure_count", &t1), 2.0);
    assert_eq!(gauge("resilience_circuit_failure_count", &t2), 0.0);
    // No call series counts successes.
    assert!(values.keys().all(|(name, _)| !name.contains("success")));
}
