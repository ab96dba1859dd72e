//! The alert rules shipped in `resilience/alerts/` read only series the crate publishes, under
//! the names it publishes them (`promtool test rules` checks their logic, in CI).
#![cfg(feature = "metrics")]

use resilience::metrics::*;

const PUBLISHED: &[&str] = &[
    CIRCUIT_STATE,
    CIRCUIT_TRANSITIONS,
    CIRCUIT_OPENED_TIMESTAMP,
    CIRCUIT_RECOVERY_TIMEOUT,
    CIRCUIT_WINDOW_CALLS,
    CIRCUIT_FAILURE_RATIO,
    CIRCUIT_FAILURES,
    CALLS_FAILED,
    CALLS_REJECTED,
    CALL_DURATION,
    RETRY_ATTEMPTS,
    RETRY_EXHAUSTED,
    FALLBACK_SERVED,
    ALL_TIERS_FAILED,
    TIER_HEALTHY,
];

/// Every `resilience_...` name in `text`.
fn series_named_in(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("resilience_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(&tail[..end]);
        rest = &tail[end..];
    }
    names
}

fn is_published(name: &str) -> bool {
    let histogram_part = |suffix: &str| {
        name.strip_suffix(suffix)
            .is_some_and(|base| base == CALL_DURATION)
    };
    PUBLISHED.contains(&name)
        || ["_bucket", "_count", "_sum"]
            .into_iter()
            .any(histogram_part)
}

#[test]
fn the_alert_rules_read_only_published_series() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/alerts/");
    for file in ["resilience.rules.yml", "resilience.test.yml"] {
        let text = std::fs::read_to_string(format!("{dir}{file}")).unwrap();
        let names = series_named_in(&text);
        assert!(names.len() >= 4, "{file}: {names:?}");
        for name in names {
            assert!(
                is_published(name),
                "{file} reads {name}, which is not published"
            );
        }
    }
}

#[test]
fn an_unpublished_name_is_caught() {
    let names =
        series_named_in("rate(resilience_circuit_error_rate[5m]) > resilience_circuit_state");
    assert_eq!(
        names,
        ["resilience_circuit_error_rate", "resilience_circuit_state"]
    );
    assert!(!is_published(names[0]));
    assert!(is_published(names[1]));
    assert!(is_published("resilience_call_duration_seconds_bucket"));
}
