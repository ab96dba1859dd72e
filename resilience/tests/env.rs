//! Configuration from the environment: precedence and bad values.
//!
//! The table-driven cases go through `build_with_env`, which reads a map instead of the process
//! environment, so they cannot race. The one test that sets real variables is the only test of
//! this binary that touches the process environment.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use resilience::{CircuitBreaker, ConfigError};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

#[test]
fn precedence_per_breaker_then_code_then_global_then_default() {
    struct Case {
        what: &'static str,
        vars: &'static [(&'static str, &'static str)],
        code: Option<u32>,
        expected: u32,
    }
    let cases = [
        Case {
            what: "built-in default",
            vars: &[],
            code: None,
            expected: 5,
        },
        Case {
            what: "global variable over default",
            vars: &[("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "7")],
            code: None,
            expected: 7,
        },
        Case {
            what: "code over global variable",
            vars: &[("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "7")],
            code: Some(4),
            expected: 4,
        },
        Case {
            what: "per-breaker variable over code",
            vars: &[
                ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "7"),
                ("CIRCUIT_BREAKER_TIER1_MCP_FAILURE_THRESHOLD", "9"),
            ],
            code: Some(4),
            expected: 9,
        },
        Case {
            what: "another breaker's variable does not apply",
            vars: &[("CIRCUIT_BREAKER_TIER2_SDK_FAILURE_THRESHOLD", "9")],
            code: Some(4),
            expected: 4,
        },
        Case {
            what: "a bad global variable keeps the default",
            vars: &[("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "abc")],
            code: None,
            expected: 5,
        },
        Case {
            what: "a bad per-breaker variable keeps the code's value",
            vars: &[("CIRCUIT_BREAKER_TIER1_MCP_FAILURE_THRESHOLD", "-1")],
            code: Some(4),
            expected: 4,
        },
    ];
    for case in cases {
        let mut builder = CircuitBreaker::builder("tier1_mcp");
        if let Some(n) = case.code {
            builder = builder.failure_threshold(n);
        }
        let breaker = builder.build_with_env(env(case.vars)).unwrap();
        assert_eq!(
            breaker.config().failure_threshold,
            case.expected,
            "{}",
            case.what
        );
    }
}

#[test]
fn every_breaker_key_has_a_per_breaker_variable() {
    let breaker = CircuitBreaker::builder("tier1_mcp")
        .build_with_env(env(&[
            ("CIRCUIT_BREAKER_TIER1_MCP_FAILURE_THRESHOLD", "8"),
            ("CIRCUIT_BREAKER_TIER1_MCP_RECOVERY_TIMEOUT", "1m 30s"),
            ("CIRCUIT_BREAKER_TIER1_MCP_HALF_OPEN_CALLS", "6"),
            ("CIRCUIT_BREAKER_TIER1_MCP_SUCCESS_THRESHOLD", "4"),
        ]))
        .unwrap();
    let c = breaker.config();
    assert_eq!(c.failure_threshold, 8);
    assert_eq!(c.recovery_timeout, Duration::from_secs(90));
    assert_eq!(c.half_open_max_calls, 6);
    assert_eq!(c.success_threshold, 4);
}

#[test]
fn an_environment_that_makes_the_config_unworkable_is_ignored_for_that_breaker() {
    let (events, _guard) = support::capture();
    // success_threshold 9 with half_open_max_calls 3: the circuit could never close.
    let breaker = CircuitBreaker::builder("tier2_sdk")
        .success_threshold(2)
        .build_with_env(env(&[("CIRCUIT_BREAKER_TIER2_SDK_SUCCESS_THRESHOLD", "9")]))
        .unwrap();
    assert_eq!(breaker.config().success_threshold, 2);
    let logged = events.named("config_error");
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].level, tracing::Level::ERROR);
    assert_eq!(
        logged[0].field("variable"),
        "CIRCUIT_BREAKER_TIER2_SDK_SUCCESS_THRESHOLD"
    );
    assert_eq!(logged[0].field("value"), "9");
}

#[test]
fn invalid_values_in_code_are_errors_naming_the_setting_and_value() {
    let b = || CircuitBreaker::builder("tier1_mcp").ignore_env();
    let cases: Vec<(resilience::CircuitBreakerBuilder, &str, &str)> = vec![
        (b().failure_threshold(0), "failure_threshold", "0"),
        (
            b().failure_threshold(2_000_000),
            "failure_threshold",
            "2000000",
        ),
        (
            b().recovery_timeout(Duration::ZERO),
            "recovery_timeout",
            "0s",
        ),
        (b().half_open_max_calls(0), "half_open_max_calls", "0"),
        (b().success_threshold(0), "success_threshold", "0"),
        (
            b().half_open_max_calls(2).success_threshold(3),
            "success_threshold",
            "3",
        ),
        (b().window_size(0), "window_size", "0"),
        (b().window_size(10).minimum_calls(11), "minimum_calls", "11"),
        (
            b().failure_rate_threshold(0.0),
            "failure_rate_threshold",
            "0",
        ),
        (
            b().failure_rate_threshold(1.5),
            "failure_rate_threshold",
            "1.5",
        ),
        (
            b().failure_rate_threshold(f64::NAN),
            "failure_rate_threshold",
            "NaN",
        ),
    ];
    for (builder, setting, value) in cases {
        match builder.build() {
            Err(ConfigError::InvalidSetting {
                setting: s,
                value: v,
                ..
            }) => {
                assert_eq!((s, v.as_str()), (setting, value));
            }
            other => panic!("{setting} = {value}: expected an error, got {other:?}"),
        }
    }
    let err = b()
        .half_open_max_calls(2)
        .success_threshold(3)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid success_threshold = 3 for circuit breaker 'tier1_mcp': \
         must be at most 2 (half_open_max_calls), or the circuit could never close"
    );
    for bad in ["", "zoho-mcp", "1tier", "tier one", "tïer"] {
        let err = CircuitBreaker::builder(bad)
            .ignore_env()
            .build()
            .unwrap_err();
        assert_eq!(err.input(), "name", "{bad:?}");
    }
}

/// The only test here that sets process variables.
#[test]
fn the_process_environment_is_read_and_checked() {
    // SAFETY: no other test of this binary reads or writes the process environment, and the
    // crate has not read it yet.
    unsafe {
        std::env::set_var("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "7");
        std::env::set_var("CIRCUIT_BREAKER_HALF_OPEN_CALLS", "abc");
        std::env::set_var("CIRCUIT_BREAKER_PROC_TIER1_RECOVERY_TIMEOUT", "30");
    }
    let err = resilience::init().unwrap_err();
    assert!(matches!(
        &err,
        ConfigError::InvalidEnv { variable, value, .. }
            if variable == "CIRCUIT_BREAKER_HALF_OPEN_CALLS" && value == "abc"
    ));
    assert!(
        err.to_string()
            .contains("CIRCUIT_BREAKER_HALF_OPEN_CALLS=\"abc\"")
    );

    let (events, _guard) = support::capture();
    let tier1 = resilience::registry()
        .register(CircuitBreaker::builder("proc_tier1").recovery_timeout(Duration::from_secs(60)))
        .unwrap();
    let other = CircuitBreaker::builder("proc_other").build().unwrap();
    assert_eq!(
        tier1.config().recovery_timeout,
        Duration::from_secs(30),
        "per-breaker wins"
    );
    assert_eq!(tier1.config().failure_threshold, 7, "global variable");
    assert_eq!(other.config().failure_threshold, 7);
    assert_eq!(
        other.config().half_open_max_calls,
        3,
        "bad value: default kept"
    );
    // The bad variable is logged once, however many breakers are built.
    let logged: Vec<_> = events
        .all()
        .into_iter()
        .filter(|e| {
            e.fields.get("variable").map(String::as_str) == Some("CIRCUIT_BREAKER_HALF_OPEN_CALLS")
        })
        .collect();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].level, tracing::Level::ERROR);

    // `ignore_env` opts out.
    let plain = CircuitBreaker::builder("proc_tier1")
        .ignore_env()
        .build()
        .unwrap();
    assert_eq!(plain.config().failure_threshold, 5);
    assert_eq!(plain.config().recovery_timeout, Duration::from_secs(60));
}

/// (the breaker's success_threshold and half_open_max_calls, the variables logged as ignored)
fn resolved(
    builder: resilience::CircuitBreakerBuilder,
    vars: &[(&str, &str)],
) -> ((u32, u32), Vec<(String, String)>) {
    let (events, _guard) = support::capture();
    let breaker = builder.build_with_env(env(vars)).unwrap();
    let logged = events
        .named("config_error")
        .iter()
        .map(|e| (e.field("variable").to_owned(), e.field("value").to_owned()))
        .collect();
    let c = breaker.config();
    ((c.success_threshold, c.half_open_max_calls), logged)
}

fn logged(variable: &str, value: &str) -> Vec<(String, String)> {
    vec![(variable.to_owned(), value.to_owned())]
}

/// success_threshold must not exceed half_open_max_calls. When a variable breaks that rule,
/// the variable is what is ignored and logged, whichever side of the rule it set.
#[test]
fn a_variable_that_breaks_a_rule_between_two_settings_is_the_one_ignored() {
    let b = || CircuitBreaker::builder("tier2_sdk");
    // The global probe limit below the default success threshold (2): neither set in code.
    assert_eq!(
        resolved(b(), &[("CIRCUIT_BREAKER_HALF_OPEN_CALLS", "1")]),
        ((2, 3), logged("CIRCUIT_BREAKER_HALF_OPEN_CALLS", "1"))
    );
    // Set in code, a global variable for the same setting is not what broke the rule.
    assert_eq!(
        resolved(
            b().success_threshold(3),
            &[
                ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "1"),
                ("CIRCUIT_BREAKER_HALF_OPEN_CALLS", "2"),
            ]
        ),
        ((3, 3), logged("CIRCUIT_BREAKER_HALF_OPEN_CALLS", "2"))
    );
    // The breaker's own variable, over a value in code.
    assert_eq!(
        resolved(
            b().success_threshold(2),
            &[("CIRCUIT_BREAKER_TIER2_SDK_HALF_OPEN_CALLS", "1")]
        ),
        (
            (2, 3),
            logged("CIRCUIT_BREAKER_TIER2_SDK_HALF_OPEN_CALLS", "1")
        )
    );
    // Both from code: the code is wrong, an error names the setting.
    let err = b()
        .success_threshold(4)
        .half_open_max_calls(2)
        .build_with_env(env(&[("CIRCUIT_BREAKER_HALF_OPEN_CALLS", "9")]))
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::InvalidSetting { setting: "success_threshold", ref value, .. } if value == "4"),
        "{err:?}"
    );
}
