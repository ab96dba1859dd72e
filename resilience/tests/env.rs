//! Configuration from the environment: precedence and bad values.
//!
//! The table-driven cases go through `build_with_env`, which reads a map instead of the process
//! environment, so they cannot race. The one test that sets real variables is the only test of
//! this binary that touches the process environment.

mod support;

use std::time::Duration;

use resilience::{CircuitBreaker, ConfigError, RetryPolicy};
use support::env;

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
        // Each breaks a rule between two settings, next to good variables.
        std::env::set_var("CIRCUIT_BREAKER_PROC_TIER2_SUCCESS_THRESHOLD", "9");
        std::env::set_var("CIRCUIT_BREAKER_PROC_TIER2_FAILURE_THRESHOLD", "4");
        std::env::set_var("CIRCUIT_BREAKER_PROC_ATTR_HALF_OPEN_CALLS", "2");
        std::env::set_var("CIRCUIT_BREAKER_PROC_ATTR_RECOVERY_TIMEOUT", "7s");
        std::env::set_var("RETRY_BASE_DELAY", "2m");
        std::env::set_var("MAX_RETRY_ATTEMPTS", "5");
        #[cfg(unix)]
        std::env::set_var(
            "CIRCUIT_BREAKER_PROC_TIER3_FAILURE_THRESHOLD",
            <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(vec![0xff, b'9']),
        );
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
    let logged_half_open: Vec<_> = events
        .all()
        .into_iter()
        .filter(|e| {
            e.fields.get("variable").map(String::as_str) == Some("CIRCUIT_BREAKER_HALF_OPEN_CALLS")
        })
        .collect();
    assert_eq!(logged_half_open.len(), 1, "{logged_half_open:?}");
    assert_eq!(logged_half_open[0].level, tracing::Level::ERROR);

    // `ignore_env` opts out.
    let plain = CircuitBreaker::builder("proc_tier1")
        .ignore_env()
        .build()
        .unwrap();
    assert_eq!(plain.config().failure_threshold, 5);
    assert_eq!(plain.config().recovery_timeout, Duration::from_secs(60));

    // Only the variable that breaks a rule is ignored: success_threshold 9 against the default
    // probe limit (3); the breaker's other variable applies.
    let tier2 = CircuitBreaker::builder("proc_tier2").build().unwrap();
    assert_eq!(
        (
            tier2.config().success_threshold,
            tier2.config().failure_threshold
        ),
        (2, 4)
    );
    // The breaker an attribute registers keeps the values written for it and every variable
    // but the one that breaks the rule with them.
    #[resilience::circuit_breaker(
        name = "proc_attr",
        failure_threshold = 6,
        success_threshold = 3,
        half_open_max_calls = 3
    )]
    async fn proc_attr_call() -> Result<u32, resilience::Error> {
        Ok(1)
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(proc_attr_call()).unwrap(), 1);
    let attr = resilience::registry().get("proc_attr").expect("registered");
    let c = attr.config();
    assert_eq!(
        (
            c.failure_threshold,
            c.recovery_timeout,
            c.success_threshold,
            c.half_open_max_calls
        ),
        (6, Duration::from_secs(7), 3, 3)
    );
    // The retry builder: a base delay above the default cap (60 s) is ignored, the attempts kept.
    let retry = RetryPolicy::builder().build().unwrap();
    assert_eq!(
        (retry.max_attempts, retry.base_delay),
        (5, Duration::from_secs(1))
    );
    let mut expected = logged(&[
        ("CIRCUIT_BREAKER_PROC_TIER2_SUCCESS_THRESHOLD", "9"),
        ("CIRCUIT_BREAKER_PROC_ATTR_HALF_OPEN_CALLS", "2"),
        ("RETRY_BASE_DELAY", "2m"),
    ]);

    // A per-breaker value that is not UTF-8 is logged like a global one, and ignored.
    #[cfg(unix)]
    {
        let tier3 = CircuitBreaker::builder("proc_tier3").build().unwrap();
        assert_eq!(tier3.config().failure_threshold, 7);
        expected.push((
            "CIRCUIT_BREAKER_PROC_TIER3_FAILURE_THRESHOLD".to_owned(),
            "\u{fffd}9".to_owned(),
        ));
    }
    // In any order: the attribute's breaker is built when the registry is, before or after the
    // others.
    let mut logged_now = ignored(&events);
    logged_now.sort();
    expected.sort();
    assert_eq!(logged_now, expected);
}

/// A breaker's configuration built through `build_with_env`, and the variables logged as ignored
/// (variable, value), in order.
fn built(
    builder: resilience::CircuitBreakerBuilder,
    vars: &[(&str, &str)],
) -> (resilience::CircuitBreakerConfig, Vec<(String, String)>) {
    let (events, _guard) = support::capture();
    let breaker = builder.build_with_env(env(vars)).unwrap();
    (breaker.config().clone(), ignored(&events))
}

fn ignored(events: &support::Events) -> Vec<(String, String)> {
    events
        .named("config_error")
        .iter()
        .map(|e| (e.field("variable").to_owned(), e.field("value").to_owned()))
        .collect()
}

fn logged(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// Each case below uses its own breaker name and values: an ignored variable is logged once per
// variable and value for the whole process, and the tests of this binary share that.

/// success_threshold must not exceed half_open_max_calls. When variables break that rule, the
/// fewest variables that mend it are ignored and logged; every other variable applies.
#[test]
fn only_the_variable_that_breaks_a_rule_is_ignored_every_other_one_applies() {
    let secs = Duration::from_secs;
    // (breaker, written success_threshold and half_open_max_calls, variables,
    //  expected (failure_threshold, recovery_timeout, success_threshold, half_open_max_calls),
    //  the variables ignored)
    type Case = (
        &'static str,
        (Option<u32>, Option<u32>),
        &'static [(&'static str, &'static str)],
        (u32, Duration, u32, u32),
        &'static [(&'static str, &'static str)],
    );
    let cases: [Case; 7] = [
        // The global probe limit below the default success threshold (2), with a good global
        // variable and a good per-breaker one.
        (
            "tier2_sdk",
            (None, None),
            &[
                ("CIRCUIT_BREAKER_HALF_OPEN_CALLS", "1"),
                ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "10"),
                ("CIRCUIT_BREAKER_TIER2_SDK_RECOVERY_TIMEOUT", "5s"),
            ],
            (10, secs(5), 2, 3),
            &[("CIRCUIT_BREAKER_HALF_OPEN_CALLS", "1")],
        ),
        // Two global variables break it together: the bounded one (success_threshold) is
        // ignored, the probe limit kept.
        (
            "mix_a",
            (None, None),
            &[
                ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "7"),
                ("CIRCUIT_BREAKER_HALF_OPEN_CALLS", "6"),
                ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "11"),
            ],
            (11, secs(60), 2, 6),
            &[("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "7")],
        ),
        // Two per-breaker variables break it together: success_threshold falls back to the
        // code's value.
        (
            "mix_b",
            (Some(3), None),
            &[
                ("CIRCUIT_BREAKER_MIX_B_SUCCESS_THRESHOLD", "8"),
                ("CIRCUIT_BREAKER_MIX_B_HALF_OPEN_CALLS", "7"),
                ("CIRCUIT_BREAKER_MIX_B_RECOVERY_TIMEOUT", "9s"),
            ],
            (5, secs(9), 3, 7),
            &[("CIRCUIT_BREAKER_MIX_B_SUCCESS_THRESHOLD", "8")],
        ),
        // A per-breaker and a global variable, and ignoring either would do: the global one
        // goes, the breaker's own variable is kept.
        (
            "mix_c",
            (None, None),
            &[
                ("CIRCUIT_BREAKER_MIX_C_SUCCESS_THRESHOLD", "3"),
                ("CIRCUIT_BREAKER_HALF_OPEN_CALLS", " 2"),
                ("CIRCUIT_BREAKER_MIX_C_FAILURE_THRESHOLD", "12"),
            ],
            (12, secs(60), 3, 3),
            &[("CIRCUIT_BREAKER_HALF_OPEN_CALLS", " 2")],
        ),
        // Only ignoring the per-breaker variable mends it (the default probe limit, 3, is below
        // 5): the global probe limit stays.
        (
            "mix_d",
            (None, None),
            &[
                ("CIRCUIT_BREAKER_MIX_D_SUCCESS_THRESHOLD", "5"),
                ("CIRCUIT_BREAKER_HALF_OPEN_CALLS", "4"),
            ],
            (5, secs(60), 2, 4),
            &[("CIRCUIT_BREAKER_MIX_D_SUCCESS_THRESHOLD", "5")],
        ),
        // The per-breaker and the global variable of one setting both break it against the
        // value written in code: both are ignored, the default applies.
        (
            "mix_e",
            (None, Some(3)),
            &[
                ("CIRCUIT_BREAKER_MIX_E_SUCCESS_THRESHOLD", "5"),
                ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "4"),
                ("CIRCUIT_BREAKER_RECOVERY_TIMEOUT", "13s"),
            ],
            (5, secs(13), 2, 3),
            &[
                ("CIRCUIT_BREAKER_MIX_E_SUCCESS_THRESHOLD", "5"),
                ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "4"),
            ],
        ),
        // Values written in code, and the breaker's variable that breaks the rule with them.
        (
            "mix_f",
            (Some(3), Some(3)),
            &[
                ("CIRCUIT_BREAKER_MIX_F_HALF_OPEN_CALLS", "2"),
                ("CIRCUIT_BREAKER_MIX_F_FAILURE_THRESHOLD", "4"),
            ],
            (4, secs(60), 3, 3),
            &[("CIRCUIT_BREAKER_MIX_F_HALF_OPEN_CALLS", "2")],
        ),
    ];
    for (name, (success, probes), vars, expected, dropped) in cases {
        let mut builder = CircuitBreaker::builder(name);
        if let Some(n) = success {
            builder = builder.success_threshold(n);
        }
        if let Some(n) = probes {
            builder = builder.half_open_max_calls(n);
        }
        let (c, ignored) = built(builder, vars);
        assert_eq!(
            (
                c.failure_threshold,
                c.recovery_timeout,
                c.success_threshold,
                c.half_open_max_calls
            ),
            expected,
            "{name}"
        );
        assert_eq!(ignored, logged(dropped), "{name}");
    }
}

/// A rule broken by the code alone is an error naming the setting, whatever the environment.
#[test]
fn a_rule_broken_in_code_is_an_error() {
    let err = CircuitBreaker::builder("tier2_sdk")
        .success_threshold(4)
        .half_open_max_calls(2)
        .build_with_env(env(&[("CIRCUIT_BREAKER_HALF_OPEN_CALLS", "9")]))
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::InvalidSetting { setting: "success_threshold", ref value, .. } if value == "4"),
        "{err:?}"
    );
    // The written value is blamed, not the default it clashes with.
    let err = CircuitBreaker::builder("tier2_sdk")
        .half_open_max_calls(1)
        .build_with_env(env(&[("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "3")]))
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::InvalidSetting { setting: "half_open_max_calls", ref value, .. } if value == "1"),
        "{err:?}"
    );
    // A variable may mend what the code and the defaults leave broken.
    let breaker = CircuitBreaker::builder("tier2_sdk")
        .half_open_max_calls(1)
        .build_with_env(env(&[("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "1")]))
        .unwrap();
    assert_eq!(breaker.config().success_threshold, 1);
}

/// base_delay must not exceed max_delay: the retry builder ignores only the variable that breaks
/// it.
#[test]
fn retry_ignores_only_the_variable_that_breaks_a_rule() {
    let secs = Duration::from_secs;
    let ms = Duration::from_millis;
    // (written base_delay and max_delay, variables,
    //  expected (max_attempts, base_delay, max_delay, jitter), the variables ignored)
    type Case = (
        (Option<Duration>, Option<Duration>),
        &'static [(&'static str, &'static str)],
        (u32, Duration, Duration, bool),
        &'static [(&'static str, &'static str)],
    );
    let cases: [Case; 4] = [
        // A base above the default cap (60 s).
        (
            (None, None),
            &[
                ("RETRY_BASE_DELAY", "120"),
                ("MAX_RETRY_ATTEMPTS", "5"),
                ("RETRY_JITTER_ENABLED", "false"),
            ],
            (5, secs(1), secs(60), false),
            &[("RETRY_BASE_DELAY", "120")],
        ),
        // Both delays from variables: the base is ignored, the cap kept.
        (
            (None, None),
            &[
                ("RETRY_BASE_DELAY", "10s"),
                ("RETRY_MAX_DELAY", "5s"),
                ("MAX_RETRY_ATTEMPTS", "6"),
            ],
            (6, secs(1), secs(5), true),
            &[("RETRY_BASE_DELAY", "10s")],
        ),
        // A cap below the base written in code.
        (
            (Some(secs(2)), None),
            &[("RETRY_MAX_DELAY", "1500ms"), ("MAX_RETRY_ATTEMPTS", "7")],
            (7, secs(2), secs(60), true),
            &[("RETRY_MAX_DELAY", "1500ms")],
        ),
        // A variable that mends a cap written below the default base.
        (
            (None, Some(ms(500))),
            &[("RETRY_BASE_DELAY", "100ms"), ("MAX_RETRY_ATTEMPTS", "8")],
            (8, ms(100), ms(500), true),
            &[],
        ),
    ];
    for ((base, max), vars, expected, dropped) in cases {
        let mut builder = RetryPolicy::builder();
        if let Some(d) = base {
            builder = builder.base_delay(d);
        }
        if let Some(d) = max {
            builder = builder.max_delay(d);
        }
        let (events, _guard) = support::capture();
        let policy = builder.build_with_env(env(vars)).unwrap();
        assert_eq!(
            (
                policy.max_attempts,
                policy.base_delay,
                policy.max_delay,
                policy.jitter
            ),
            expected,
            "{vars:?}"
        );
        assert_eq!(ignored(&events), logged(dropped), "{vars:?}");
    }
}
