//! Breaker and retry settings read from a configuration file (`serde` feature): they feed the
//! builders as values written in code, and a bad value is an error naming the key and the value.
#![cfg(feature = "serde")]

use std::collections::BTreeMap;
use std::time::Duration;

use resilience::config::{BreakerOptions, RetryOptions};
use resilience::{CircuitBreaker, ConfigError, RetryPolicy};
use serde::Deserialize;

mod support;
use support::env;

/// A service's own configuration, holding the crate's options.
#[derive(Debug, Deserialize)]
struct Service {
    #[allow(dead_code)]
    listen: String,
    breakers: BTreeMap<String, BreakerOptions>,
    retry: RetryOptions,
}

const SERVICE_TOML: &str = r#"
listen = "0.0.0.0:8080"

[breakers.tier1_mcp]
failure_threshold = 3
recovery_timeout = "30s"
half_open_max_calls = 4
success_threshold = 4

[breakers.tier2_sdk]
recovery_timeout = 90          # plain seconds, as in the variables
window_size = 50
minimum_calls = 10
failure_rate_threshold = 0.5

[retry]
max_attempts = 5
base_delay = "500ms"
max_delay = "1m 30s"
exponential_base = 1.5
jitter = false
budget = 2.5
"#;

#[test]
fn a_service_config_in_toml_feeds_the_builders() {
    let service: Service = toml::from_str(SERVICE_TOML).unwrap();

    let tier1 = CircuitBreaker::builder("tier1_mcp")
        .options(&service.breakers["tier1_mcp"])
        .ignore_env()
        .build()
        .unwrap();
    let c = tier1.config();
    assert_eq!(c.failure_threshold, 3);
    assert_eq!(c.recovery_timeout, Duration::from_secs(30));
    assert_eq!((c.success_threshold, c.half_open_max_calls), (4, 4));

    let tier2 = CircuitBreaker::builder("tier2_sdk")
        .options(&service.breakers["tier2_sdk"])
        .ignore_env()
        .build()
        .unwrap();
    let c = tier2.config();
    assert_eq!(c.recovery_timeout, Duration::from_secs(90));
    assert_eq!((c.window_size, c.minimum_calls), (50, 10));
    assert_eq!(c.failure_rate_threshold, Some(0.5));
    assert_eq!(c.failure_threshold, 5, "left out: the default");

    let retry = RetryPolicy::builder()
        .options(&service.retry)
        .ignore_env()
        .build()
        .unwrap();
    assert_eq!(retry.max_attempts, 5);
    assert_eq!(retry.base_delay, Duration::from_millis(500));
    assert_eq!(retry.max_delay, Duration::from_secs(90));
    assert_eq!(retry.exponential_base, 1.5);
    assert!(!retry.jitter);
    assert_eq!(retry.budget, Some(Duration::from_millis(2500)));
}

#[test]
fn values_from_a_file_take_the_place_of_values_written_in_code() {
    let service: Service = toml::from_str(SERVICE_TOML).unwrap();
    let vars = env(&[
        // Over the file's value.
        ("CIRCUIT_BREAKER_TIER1_MCP_RECOVERY_TIMEOUT", "45s"),
        // Under it.
        ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "8"),
        // For a setting the file leaves out.
        ("CIRCUIT_BREAKER_TIER2_SDK_HALF_OPEN_CALLS", "6"),
        ("MAX_RETRY_ATTEMPTS", "9"),
    ]);
    let tier1 = CircuitBreaker::builder("tier1_mcp")
        .options(&service.breakers["tier1_mcp"])
        .build_with_env(&vars)
        .unwrap();
    assert_eq!(tier1.config().recovery_timeout, Duration::from_secs(45));
    assert_eq!(tier1.config().failure_threshold, 3);
    let tier2 = CircuitBreaker::builder("tier2_sdk")
        .options(&service.breakers["tier2_sdk"])
        .build_with_env(&vars)
        .unwrap();
    assert_eq!(tier2.config().failure_threshold, 8);
    assert_eq!(tier2.config().half_open_max_calls, 6);
    let retry = RetryPolicy::builder()
        .options(&service.retry)
        .build_with_env(&vars)
        .unwrap();
    assert_eq!(retry.max_attempts, 5);

    // The file's values replace the builder's, and leave the others alone.
    let mut options = BreakerOptions::default();
    options.failure_threshold = Some(7);
    let breaker = CircuitBreaker::builder("tier3_rest")
        .failure_threshold(2)
        .success_threshold(1)
        .options(&options)
        .ignore_env()
        .build()
        .unwrap();
    assert_eq!(breaker.config().failure_threshold, 7);
    assert_eq!(breaker.config().success_threshold, 1);
}

#[test]
fn options_load_from_json() {
    let breaker: BreakerOptions =
        serde_json::from_str(r#"{"recovery_timeout": "1m 30s", "half_open_max_calls": "5"}"#)
            .unwrap();
    assert_eq!(breaker.recovery_timeout, Some(Duration::from_secs(90)));
    assert_eq!(breaker.half_open_max_calls, Some(5));
    assert_eq!(breaker.failure_threshold, None);
    let retry: RetryOptions = serde_json::from_str(
        r#"{"base_delay": 0.25, "max_delay": "2m", "jitter": "off", "exponential_base": 3}"#,
    )
    .unwrap();
    assert_eq!(retry.base_delay, Some(Duration::from_millis(250)));
    assert_eq!(retry.max_delay, Some(Duration::from_secs(120)));
    assert_eq!(retry.jitter, Some(false));
    assert_eq!(retry.exponential_base, Some(3.0));
    assert_eq!(
        serde_json::from_str::<BreakerOptions>("{}").unwrap(),
        BreakerOptions::default()
    );
}

/// The message of reading `json` as `T`.
fn json_error<T: serde::de::DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
    serde_json::from_str::<T>(json).unwrap_err().to_string()
}

#[test]
fn a_bad_value_in_a_file_is_an_error_naming_the_key_and_the_value() {
    let breaker_cases = [
        (
            r#"{"failure_threshold": 0}"#,
            "invalid failure_threshold = 0: must be at least 1",
        ),
        (
            r#"{"failure_threshold": 2000000}"#,
            "invalid failure_threshold = 2000000: too large; at most 1000000",
        ),
        (
            r#"{"half_open_max_calls": -3}"#,
            "invalid half_open_max_calls = -3: must be at least 1",
        ),
        (
            r#"{"success_threshold": 1.5}"#,
            "invalid success_threshold = 1.5: expected a whole number",
        ),
        (
            r#"{"recovery_timeout": "soon"}"#,
            r#"invalid recovery_timeout = "soon": expected a number of seconds"#,
        ),
        (
            r#"{"recovery_timeout": -5}"#,
            "invalid recovery_timeout = -5: must not be negative",
        ),
        (
            r#"{"recovery_timeout": "400d"}"#,
            r#"invalid recovery_timeout = "400d": too large; at most 365 days"#,
        ),
        (
            r#"{"recovery_timeout": 0}"#,
            "invalid recovery_timeout = 0s: must be greater than zero",
        ),
        (
            r#"{"recovery_timeout": true}"#,
            "invalid recovery_timeout = true: expected a number of seconds",
        ),
        (
            r#"{"success_threshold": 5, "half_open_max_calls": 4}"#,
            "invalid success_threshold = 5: must be at most 4 (half_open_max_calls), or the \
             circuit could never close",
        ),
        (
            r#"{"window_size": 10, "minimum_calls": 11}"#,
            "invalid minimum_calls = 11: must be at most 10 (window_size)",
        ),
        (
            r#"{"failure_rate_threshold": 1.5}"#,
            "invalid failure_rate_threshold = 1.5: must be greater than 0.0 and at most 1.0",
        ),
        (
            r#"{"failure_treshold": 5}"#,
            "unknown field `failure_treshold`, expected one of",
        ),
    ];
    for (json, expected) in breaker_cases {
        let message = json_error::<BreakerOptions>(json);
        assert!(message.starts_with(expected), "{json}: {message}");
    }
    let retry_cases = [
        (
            r#"{"max_attempts": 0}"#,
            "invalid max_attempts = 0: must be at least 1",
        ),
        (
            r#"{"max_attempts": 1001}"#,
            "invalid max_attempts = 1001: too large; at most 1000",
        ),
        (
            r#"{"base_delay": "2m", "max_delay": "1m"}"#,
            "invalid base_delay = 120s for retry policy: must not exceed max_delay (60s)",
        ),
        (
            r#"{"exponential_base": 0.5}"#,
            "invalid exponential_base = 0.5 for retry policy: must be a finite number of at \
             least 1.0",
        ),
        (
            r#"{"exponential_base": "two"}"#,
            r#"invalid exponential_base = "two": expected a number"#,
        ),
        (
            r#"{"jitter": "sometimes"}"#,
            r#"invalid jitter = "sometimes": expected true or false"#,
        ),
        (
            r#"{"jitter": 1}"#,
            "invalid jitter = 1: expected true or false",
        ),
        (
            r#"{"budget": 0}"#,
            "invalid budget = 0s for retry policy: must be greater than zero",
        ),
        (
            r#"{"retries": 3}"#,
            "unknown field `retries`, expected one of",
        ),
    ];
    for (json, expected) in retry_cases {
        let message = json_error::<RetryOptions>(json);
        assert!(message.starts_with(expected), "{json}: {message}");
    }
    // TOML points at the table too.
    let err = toml::from_str::<Service>(
        "listen = \"x\"\n[breakers.db]\nfailure_threshold = 0\n[retry]\n",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid failure_threshold = 0: must be at least 1"),
        "{err}"
    );
}

/// A value from a file that clashes with a setting the file leaves out is judged when the
/// breaker is built, as a value written in code: against the environment or the default.
#[test]
fn a_rule_between_a_file_value_and_a_setting_left_out_is_checked_at_build() {
    let options: BreakerOptions = serde_json::from_str(r#"{"half_open_max_calls": 1}"#).unwrap();
    let err = CircuitBreaker::builder("db")
        .options(&options)
        .ignore_env()
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::InvalidSetting { setting: "half_open_max_calls", value, .. } if value == "1"),
        "{err:?}"
    );
    let breaker = CircuitBreaker::builder("db")
        .options(&options)
        .build_with_env(env(&[("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "1")]))
        .unwrap();
    assert_eq!(breaker.config().half_open_max_calls, 1);

    let options: RetryOptions = serde_json::from_str(r#"{"max_delay": "500ms"}"#).unwrap();
    let err = RetryPolicy::builder()
        .options(&options)
        .ignore_env()
        .build()
        .unwrap_err();
    assert_eq!(err.input(), "max_delay");
}
