//! The operator view over real HTTP on loopback: `/metrics` has the breakers' series in
//! Prometheus' text format, `/status` the guide's metrics and the health status as JSON.
//!
//! One test in this binary: it installs the Prometheus recorder globally.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use resilience::CircuitBreaker;
use resilience::health::HealthMonitor;
use resilience_examples::operator::{OperatorState, serve_loopback};
use serde_json::Value;

#[tokio::test]
async fn metrics_and_status_are_served_on_loopback() {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(resilience::metrics::CALL_DURATION.into()),
            resilience::metrics::CALL_DURATION_BUCKETS,
        )
        .unwrap()
        .install_recorder()
        .expect("the only recorder of this binary");
    resilience::metrics::describe();

    // Names of their own: the demo client's attribute breakers (`tier1_mcp`, ...) are in the
    // registry from the start, with the client's settings.
    let registry = resilience::registry();
    for tier in ["op_tier1", "op_tier2", "op_tier3"] {
        registry
            .register(
                CircuitBreaker::builder(tier)
                    .failure_threshold(2)
                    .recovery_timeout(Duration::from_secs(30))
                    .ignore_env(),
            )
            .unwrap();
    }
    let tier1 = registry.get("op_tier1").unwrap();
    for _ in 0..2 {
        let _ = tier1.call(|| async { Err::<(), _>("HTTP 503") }).await;
    }
    assert!(tier1.state().is_open());
    let tier2 = registry.get("op_tier2").unwrap();
    tier2.call(|| async { Ok::<_, String>(()) }).await.unwrap();

    let monitor = HealthMonitor::builder()
        .tier("op_tier1", || async { Err::<(), _>("HTTP 503") })
        .tier("op_tier2", || async { Ok::<(), String>(()) })
        .tier("op_tier3", || async { Ok::<(), String>(()) })
        .build()
        .unwrap();
    monitor.check_all().await;

    let (addr, server) = serve_loopback(OperatorState {
        manager: registry.into(),
        monitor: Arc::new(monitor),
        render: Arc::new(move || handle.render()),
    })
    .await
    .unwrap();
    assert!(addr.ip().is_loopback());
    let client = reqwest::Client::new();

    let metrics = client
        .get(format!("http://{addr}/metrics"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert!(metrics.status().is_success());
    let text = metrics.text().await.unwrap();
    for line in [
        r#"resilience_circuit_state{circuit_breaker="op_tier1",state="open"} 1"#,
        r#"resilience_circuit_state{circuit_breaker="op_tier1",state="closed"} 0"#,
        r#"resilience_circuit_state{circuit_breaker="op_tier2",state="closed"} 1"#,
        r#"resilience_circuit_state{circuit_breaker="op_tier2",state="open"} 0"#,
        r#"resilience_calls_failed_total{circuit_breaker="op_tier1"} 2"#,
        // Present from registration, before any event.
        r#"resilience_calls_failed_total{circuit_breaker="op_tier3"} 0"#,
        r#"resilience_calls_rejected_total{circuit_breaker="op_tier3"} 0"#,
        r#"resilience_circuit_recovery_timeout_seconds{circuit_breaker="op_tier3"} 30"#,
        r#"resilience_circuit_transitions_total{circuit_breaker="op_tier1",from="closed",to="open"} 1"#,
        r#"resilience_circuit_transitions_total{circuit_breaker="op_tier2",from="closed",to="open"} 0"#,
        r#"resilience_circuit_opened_timestamp_seconds{circuit_breaker="op_tier1"} "#,
        // Successes and latency: tier 2's one call.
        r#"resilience_call_duration_seconds_count{circuit_breaker="op_tier2",outcome="success"} 1"#,
        r#"resilience_call_duration_seconds_bucket{circuit_breaker="op_tier2",outcome="success",le="+Inf"} 1"#,
        // Set by `publish` before rendering.
        r#"resilience_circuit_window_calls{circuit_breaker="op_tier2"} 1"#,
        r#"resilience_circuit_failure_ratio{circuit_breaker="op_tier1"} 1"#,
        r#"resilience_circuit_failures{circuit_breaker="op_tier1"} 2"#,
        r#"resilience_tier_healthy{tier="op_tier1"} 0"#,
        r#"resilience_tier_healthy{tier="op_tier2"} 1"#,
        "# HELP resilience_circuit_state Circuit breaker state",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "no line {line:?} in:\n{text}"
        );
    }

    let status: Value = client
        .get(format!("http://{addr}/status"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t1 = &status["breakers"]["op_tier1"];
    assert_eq!(t1["state"], "open", "{status:#}");
    assert_eq!(t1["failure_count"], 2);
    assert_eq!(t1["error_rate"], 1.0);
    let retry = t1["time_until_retry_seconds"]
        .as_f64()
        .expect("open: seconds");
    assert!(retry > 0.0 && retry <= 30.0, "{retry}");
    let t2 = &status["breakers"]["op_tier2"];
    assert_eq!(t2["state"], "closed");
    assert_eq!(t2["time_until_retry_seconds"], Value::Null);
    assert!(
        status["health"]["tiers"]["op_tier2"]["latency_seconds"].is_f64(),
        "{status:#}"
    );
    assert_eq!(status["health"]["all_healthy"], false);
    assert_eq!(status["health"]["status"], "degraded");
    assert_eq!(status["health"]["tiers"]["op_tier1"]["healthy"], false);
    assert_eq!(
        status["health"]["tiers"]["op_tier1"]["breaker_state"],
        "open"
    );

    server.abort();
}
