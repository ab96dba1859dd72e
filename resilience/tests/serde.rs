//! The guide's JSON shapes, with the `serde` feature.
#![cfg(feature = "serde")]

use std::time::Duration;

use resilience::CircuitBreaker;
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn metrics_serialise_to_the_guides_shape() {
    let b = CircuitBreaker::builder("tier1_mcp")
        .failure_threshold(2)
        .recovery_timeout(Duration::from_secs(60))
        .ignore_env()
        .build()
        .unwrap();
    let closed = serde_json::to_value(b.metrics()).unwrap();
    assert_eq!(
        closed,
        json!({
            "state": "closed",
            "failure_count": 0,
            "success_count": 0,
            "total_calls": 0,
            "error_rate": 0.0,
            "last_failure_time": null,
            "time_until_retry_seconds": null
        })
    );

    b.try_acquire().unwrap().record_failure();
    b.try_acquire().unwrap().record_failure();
    tokio::time::advance(Duration::from_millis(14_800)).await;
    let open = serde_json::to_value(b.metrics()).unwrap();
    assert_eq!(open["state"], "open");
    assert_eq!(open["failure_count"], 2);
    assert_eq!(open["total_calls"], 2);
    assert_eq!(open["error_rate"], 1.0);
    assert_eq!(open["time_until_retry_seconds"], 45.2);
    let when = open["last_failure_time"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(when).is_ok(), "RFC 3339: {when}");
}

#[test]
fn state_changes_serialise_with_names_and_times() {
    let b = CircuitBreaker::builder("tier2_sdk")
        .ignore_env()
        .build()
        .unwrap();
    let mut changes = b.subscribe();
    b.force_open();
    let v = serde_json::to_value(changes.try_recv().unwrap()).unwrap();
    assert_eq!(v["circuit_breaker"], "tier2_sdk");
    assert_eq!(v["old_state"], "closed");
    assert_eq!(v["new_state"], "forced_open");
    assert!(humantime::parse_rfc3339(v["at"].as_str().unwrap()).is_ok());
}
