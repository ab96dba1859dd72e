//! Unit tests of parsing, reading and precedence.

use super::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A lookup over fixed pairs.
fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

/// Asserts that `err` is an `InvalidEnv` for `variable` = `value` whose reason contains
/// `reason`.
#[track_caller]
fn assert_invalid(err: &ConfigError, variable: &str, value: &str, reason: &str) {
    match err {
        ConfigError::InvalidEnv {
            variable: v,
            value: val,
            reason: r,
        } => {
            assert_eq!(v, variable, "variable of {err:?}");
            assert_eq!(val, value, "value of {err:?}");
            assert!(
                r.contains(reason),
                "reason {r:?} of {variable}={value:?} should contain {reason:?}"
            );
            let message = err.to_string();
            assert!(message.contains(variable), "{message}");
            assert!(message.contains(&format!("{value:?}")), "{message}");
        }
        other => panic!("expected InvalidEnv, got {other:?}"),
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

// --- whole numbers -------------------------------------------------------------------

struct CountVar {
    variable: &'static str,
    get: fn(&Settings) -> u32,
    max: u32,
}

const COUNT_VARS: [CountVar; 4] = [
    CountVar {
        variable: CIRCUIT_BREAKER_FAILURE_THRESHOLD,
        get: |s| s.breaker.failure_threshold,
        max: MAX_FAILURE_THRESHOLD,
    },
    CountVar {
        variable: CIRCUIT_BREAKER_HALF_OPEN_CALLS,
        get: |s| s.breaker.half_open_max_calls,
        max: MAX_HALF_OPEN_CALLS,
    },
    CountVar {
        variable: CIRCUIT_BREAKER_SUCCESS_THRESHOLD,
        get: |s| s.breaker.success_threshold,
        max: MAX_HALF_OPEN_CALLS,
    },
    CountVar {
        variable: MAX_RETRY_ATTEMPTS_VAR,
        get: |s| s.retry.max_attempts,
        max: MAX_RETRY_ATTEMPTS,
    },
];

#[test]
fn whole_number_variables_accept_valid_values() {
    for var in &COUNT_VARS {
        let max = var.max.to_string();
        let cases: [(&str, u32); 6] = [
            ("1", 1),
            ("7", 7),
            (" 7 ", 7),
            ("\t12\n", 12),
            ("007", 7),
            (max.as_str(), var.max),
        ];
        for (text, expected) in cases {
            let settings = Settings::from_lookup(env(&[(var.variable, text)]))
                .unwrap_or_else(|e| panic!("{}={text:?}: {e}", var.variable));
            assert_eq!((var.get)(&settings), expected, "{}={text:?}", var.variable);
        }
    }
}

#[test]
fn whole_number_variables_reject_invalid_values() {
    for var in &COUNT_VARS {
        let above = (var.max + 1).to_string();
        let cases: [(&str, &str); 14] = [
            ("", "empty value; expected a whole number"),
            ("   ", "empty value; expected a whole number"),
            ("abc", "expected a whole number"),
            ("1.5", "expected a whole number"),
            ("５", "expected a whole number"),
            ("+5", "expected a whole number"),
            ("1e3", "expected a whole number"),
            ("NaN", "expected a whole number"),
            ("inf", "expected a whole number"),
            ("-1", "must be at least 1"),
            ("0", "must be at least 1"),
            (" 0 ", "must be at least 1"),
            ("99999999999", "too large; at most"),
            (&above, "too large; at most"),
        ];
        for (text, reason) in cases {
            let err = Settings::from_lookup(env(&[(var.variable, text)])).unwrap_err();
            assert_invalid(&err, var.variable, text, reason);
            if reason.starts_with("too large") {
                assert_invalid(&err, var.variable, text, &format!("at most {}", var.max));
            }
        }
    }
}

// --- durations -----------------------------------------------------------------------

struct DurationVar {
    variable: &'static str,
    get: fn(&Settings) -> Duration,
    zero_ok: bool,
}

const DURATION_VARS: [DurationVar; 4] = [
    DurationVar {
        variable: CIRCUIT_BREAKER_RECOVERY_TIMEOUT,
        get: |s| s.breaker.recovery_timeout,
        zero_ok: false,
    },
    DurationVar {
        variable: RETRY_BASE_DELAY,
        get: |s| s.retry.base_delay,
        zero_ok: true,
    },
    DurationVar {
        variable: RETRY_MAX_DELAY,
        get: |s| s.retry.max_delay,
        zero_ok: true,
    },
    DurationVar {
        variable: HEALTH_CHECK_INTERVAL,
        get: |s| s.health.check_interval,
        zero_ok: false,
    },
];

#[test]
fn duration_variables_accept_valid_values() {
    let cases: [(&str, Duration); 15] = [
        ("60", Duration::from_secs(60)),
        ("1.5", Duration::from_millis(1500)),
        ("0.25", Duration::from_millis(250)),
        (".5", Duration::from_millis(500)),
        ("3.", Duration::from_secs(3)),
        ("0.000000001", Duration::from_nanos(1)),
        ("2.500000000000", Duration::from_millis(2500)),
        (" 7 ", Duration::from_secs(7)),
        ("500ms", Duration::from_millis(500)),
        ("2m", Duration::from_secs(120)),
        ("1m 30s", Duration::from_secs(90)),
        ("60s", Duration::from_secs(60)),
        ("1h", Duration::from_secs(3600)),
        ("365d", MAX_DURATION),
        ("31536000", MAX_DURATION),
    ];
    for var in &DURATION_VARS {
        for (text, expected) in cases {
            let settings = Settings::from_lookup(env(&[(var.variable, text)]))
                .unwrap_or_else(|e| panic!("{}={text:?}: {e}", var.variable));
            assert_eq!((var.get)(&settings), expected, "{}={text:?}", var.variable);
        }
        for zero in ["0", "0s", "0ms", "0.0"] {
            let result = Settings::from_lookup(env(&[(var.variable, zero)]));
            if var.zero_ok {
                assert_eq!(result.map(|s| (var.get)(&s)), Ok(Duration::ZERO));
            } else {
                assert_invalid(
                    &result.unwrap_err(),
                    var.variable,
                    zero,
                    "must be greater than zero",
                );
            }
        }
    }
}

#[test]
fn duration_variables_reject_invalid_values() {
    let cases: [(&str, &str); 16] = [
        ("", "empty value; expected a number of seconds"),
        (" ", "empty value; expected a number of seconds"),
        ("abc", "expected a number of seconds"),
        ("-1", "must not be negative"),
        ("-0.5", "must not be negative"),
        ("-5s", "must not be negative"),
        ("NaN", "must be a finite number"),
        ("inf", "must be a finite number"),
        ("-inf", "must be a finite number"),
        ("1e3", "expected a number of seconds"),
        ("10 parsecs", "unknown unit \"parsecs\""),
        ("５", "expected a number of seconds"),
        ("31536001", "too large; at most 365 days"),
        ("366d", "too large; at most 365 days"),
        ("99999999999999999999999", "too large"),
        ("0.0000000001", "finer than a nanosecond"),
    ];
    for var in &DURATION_VARS {
        for (text, reason) in cases {
            let err = Settings::from_lookup(env(&[(var.variable, text)])).unwrap_err();
            assert_invalid(&err, var.variable, text, reason);
        }
    }
}

#[test]
fn parse_duration_directly() {
    assert_eq!(parse_duration("0.25"), Ok(secs(0.25)));
    assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("2h 37min"), Ok(Duration::from_secs(9420)));
    assert_eq!(parse_duration("  500ms\n"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    assert_eq!(parse_duration("-1"), Err("must not be negative".to_owned()));
    assert!(parse_duration("").unwrap_err().starts_with("empty value"));
    assert!(parse_duration("1.2.3").is_err());
    assert!(parse_duration(".").is_err());
    assert!(
        parse_duration("10 parsecs")
            .unwrap_err()
            .contains("parsecs")
    );
}

// --- exponential base and jitter ------------------------------------------------------

#[test]
fn exponential_base_values() {
    for (text, expected) in [
        ("2", 2.0),
        ("1", 1.0),
        (" 1.5 ", 1.5),
        ("3.0", 3.0),
        ("1e1", 10.0),
    ] {
        let settings = Settings::from_lookup(env(&[(RETRY_EXPONENTIAL_BASE, text)])).unwrap();
        assert_eq!(settings.retry.exponential_base, expected, "{text:?}");
    }
    for (text, reason) in [
        ("", "empty value; expected a number such as 2.0"),
        ("abc", "expected a number such as 2.0"),
        ("５", "expected a number such as 2.0"),
        ("NaN", "must be a finite number"),
        ("inf", "must be a finite number"),
        ("-inf", "must be a finite number"),
        (
            "0.5",
            "must be at least 1.0 (a base below 1 would shrink the delays)",
        ),
        ("0", "must be at least 1.0"),
        ("-1", "must be at least 1.0"),
    ] {
        let err = Settings::from_lookup(env(&[(RETRY_EXPONENTIAL_BASE, text)])).unwrap_err();
        assert_invalid(&err, RETRY_EXPONENTIAL_BASE, text, reason);
    }
}

#[test]
fn jitter_values() {
    for (text, expected) in [
        ("true", true),
        ("TRUE", true),
        (" True ", true),
        ("1", true),
        ("yes", true),
        ("On", true),
        ("false", false),
        ("FALSE", false),
        ("0", false),
        ("no", false),
        ("off", false),
        ("OFF\n", false),
    ] {
        let settings = Settings::from_lookup(env(&[(RETRY_JITTER_ENABLED, text)])).unwrap();
        assert_eq!(settings.retry.jitter, expected, "{text:?}");
    }
    for text in ["", "maybe", "2", "-1", "t", "enabled", "ｔｒｕｅ"] {
        let err = Settings::from_lookup(env(&[(RETRY_JITTER_ENABLED, text)])).unwrap_err();
        assert_invalid(&err, RETRY_JITTER_ENABLED, text, "expected true or false");
    }
}

// --- whole settings ----------------------------------------------------------------------

#[test]
fn built_in_defaults() {
    let s = Settings::BUILT_IN;
    assert_eq!(s.breaker.failure_threshold, 5);
    assert_eq!(s.breaker.recovery_timeout, Duration::from_secs(60));
    assert_eq!(s.breaker.half_open_max_calls, 3);
    assert_eq!(s.breaker.success_threshold, 2);
    assert_eq!(s.retry.max_attempts, 3);
    assert_eq!(s.retry.base_delay, Duration::from_secs(1));
    assert_eq!(s.retry.max_delay, Duration::from_secs(60));
    assert_eq!(s.retry.exponential_base, 2.0);
    assert!(s.retry.jitter);
    assert_eq!(s.health.check_interval, Duration::from_secs(30));
    assert_eq!(Settings::default(), s);
    assert_eq!(BreakerSettings::default(), s.breaker);
    assert_eq!(RetrySettings::default(), s.retry);
    assert_eq!(HealthSettings::default(), s.health);
    assert_eq!(Settings::from_lookup(|_| None), Ok(s));
    assert_eq!(Settings::from_lookup_lenient(|_| None), (s, Vec::new()));
}

#[test]
fn every_variable_is_read() {
    let settings = Settings::from_lookup(env(&[
        (CIRCUIT_BREAKER_FAILURE_THRESHOLD, "8"),
        (CIRCUIT_BREAKER_RECOVERY_TIMEOUT, "2m"),
        (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "4"),
        (CIRCUIT_BREAKER_SUCCESS_THRESHOLD, "3"),
        (MAX_RETRY_ATTEMPTS_VAR, "6"),
        (RETRY_BASE_DELAY, "250ms"),
        (RETRY_MAX_DELAY, "10"),
        (RETRY_EXPONENTIAL_BASE, "1.5"),
        (RETRY_JITTER_ENABLED, "off"),
        (HEALTH_CHECK_INTERVAL, "45s"),
    ]))
    .unwrap();
    assert_eq!(
        settings,
        Settings {
            breaker: BreakerSettings {
                failure_threshold: 8,
                recovery_timeout: Duration::from_secs(120),
                half_open_max_calls: 4,
                success_threshold: 3,
            },
            retry: RetrySettings {
                max_attempts: 6,
                base_delay: Duration::from_millis(250),
                max_delay: Duration::from_secs(10),
                exponential_base: 1.5,
                jitter: false,
            },
            health: HealthSettings {
                check_interval: Duration::from_secs(45),
            },
        }
    );
}

#[test]
fn cross_field_rules_are_left_to_the_builders() {
    let settings = Settings::from_lookup(env(&[
        (RETRY_BASE_DELAY, "10s"),
        (RETRY_MAX_DELAY, "1s"),
        (CIRCUIT_BREAKER_SUCCESS_THRESHOLD, "9"),
        (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "1"),
    ]))
    .unwrap();
    assert_eq!(settings.retry.base_delay, Duration::from_secs(10));
    assert_eq!(settings.retry.max_delay, Duration::from_secs(1));
    assert_eq!(settings.breaker.success_threshold, 9);
    assert_eq!(settings.breaker.half_open_max_calls, 1);
}

#[test]
fn strict_returns_the_first_bad_variable_in_order() {
    let lookup = env(&[
        (HEALTH_CHECK_INTERVAL, "0"),
        (RETRY_JITTER_ENABLED, "maybe"),
        (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "lots"),
        (CIRCUIT_BREAKER_FAILURE_THRESHOLD, "3"),
    ]);
    let err = Settings::from_lookup(lookup).unwrap_err();
    assert_invalid(
        &err,
        CIRCUIT_BREAKER_HALF_OPEN_CALLS,
        "lots",
        "expected a whole number",
    );
}

#[test]
fn lenient_keeps_defaults_and_reports_every_bad_variable() {
    let (settings, errors) = Settings::from_lookup_lenient(env(&[
        (HEALTH_CHECK_INTERVAL, "0"),
        (RETRY_JITTER_ENABLED, "maybe"),
        (RETRY_BASE_DELAY, "2s"),
        (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "lots"),
        (CIRCUIT_BREAKER_FAILURE_THRESHOLD, "9"),
        (RETRY_EXPONENTIAL_BASE, "0.5"),
    ]));
    let mut expected = Settings::BUILT_IN;
    expected.breaker.failure_threshold = 9;
    expected.retry.base_delay = Duration::from_secs(2);
    assert_eq!(settings, expected);
    let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.input(), e.value())).collect();
    assert_eq!(
        found,
        [
            (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "lots"),
            (RETRY_EXPONENTIAL_BASE, "0.5"),
            (RETRY_JITTER_ENABLED, "maybe"),
            (HEALTH_CHECK_INTERVAL, "0"),
        ]
    );
    assert_invalid(
        &errors[3],
        HEALTH_CHECK_INTERVAL,
        "0",
        "must be greater than zero",
    );
}

#[test]
fn error_message_names_variable_and_value() {
    let err = Settings::from_lookup(env(&[(CIRCUIT_BREAKER_RECOVERY_TIMEOUT, "10 parsecs")]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid environment variable CIRCUIT_BREAKER_RECOVERY_TIMEOUT=\"10 parsecs\": \
         unknown unit \"parsecs\"; use ms, s, m, h or d, as in \"500ms\" or \"2m\""
    );
}

#[test]
fn the_raw_value_is_reported_untrimmed() {
    let err = Settings::from_lookup(env(&[(MAX_RETRY_ATTEMPTS_VAR, " 0 ")])).unwrap_err();
    assert_invalid(&err, MAX_RETRY_ATTEMPTS_VAR, " 0 ", "must be at least 1");
}

#[cfg(unix)]
#[test]
fn a_non_utf8_value_is_an_error() {
    use std::os::unix::ffi::OsStringExt;
    let bad = OsString::from_vec(vec![b'5', 0xff]);
    let raw = RawValue::from(bad);
    assert_eq!(raw, RawValue::NotUnicode("5\u{fffd}".to_owned()));
    let (settings, errors) =
        Settings::read(&|name: &str| (name == MAX_RETRY_ATTEMPTS_VAR).then(|| raw.clone()));
    assert_eq!(settings, Settings::BUILT_IN);
    assert_eq!(errors.len(), 1);
    assert_invalid(
        &errors[0],
        MAX_RETRY_ATTEMPTS_VAR,
        "5\u{fffd}",
        "not valid UTF-8",
    );
}

// --- per-breaker variables -------------------------------------------------------------

#[test]
fn breaker_keys() {
    let expected = [
        (
            BreakerKey::FailureThreshold,
            "FAILURE_THRESHOLD",
            CIRCUIT_BREAKER_FAILURE_THRESHOLD,
            "failure_threshold",
        ),
        (
            BreakerKey::RecoveryTimeout,
            "RECOVERY_TIMEOUT",
            CIRCUIT_BREAKER_RECOVERY_TIMEOUT,
            "recovery_timeout",
        ),
        (
            BreakerKey::HalfOpenCalls,
            "HALF_OPEN_CALLS",
            CIRCUIT_BREAKER_HALF_OPEN_CALLS,
            "half_open_max_calls",
        ),
        (
            BreakerKey::SuccessThreshold,
            "SUCCESS_THRESHOLD",
            CIRCUIT_BREAKER_SUCCESS_THRESHOLD,
            "success_threshold",
        ),
    ];
    assert_eq!(BreakerKey::ALL, expected.map(|e| e.0));
    for (key, suffix, global, setting) in expected {
        assert_eq!(key.suffix(), suffix);
        assert_eq!(key.global_var(), global);
        assert_eq!(key.global_var(), format!("CIRCUIT_BREAKER_{suffix}"));
        assert_eq!(key.setting(), setting);
    }
    assert_eq!(
        BreakerKey::FailureThreshold.breaker_var("tier1_mcp"),
        "CIRCUIT_BREAKER_TIER1_MCP_FAILURE_THRESHOLD"
    );
    assert_eq!(
        BreakerKey::HalfOpenCalls.breaker_var("Zoho"),
        "CIRCUIT_BREAKER_ZOHO_HALF_OPEN_CALLS"
    );
}

#[test]
fn overrides_use_the_upper_cased_name() {
    let lookup = env(&[
        ("CIRCUIT_BREAKER_TIER1_MCP_RECOVERY_TIMEOUT", "30s"),
        ("CIRCUIT_BREAKER_TIER1_MCP_SUCCESS_THRESHOLD", " 4 "),
        ("CIRCUIT_BREAKER_tier1_mcp_FAILURE_THRESHOLD", "abc"),
        ("CIRCUIT_BREAKER_OTHER_FAILURE_THRESHOLD", "9"),
        (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "7"),
    ]);
    let overrides = BreakerOverrides::from_lookup("tier1_mcp", &lookup).unwrap();
    assert_eq!(
        overrides,
        BreakerOverrides {
            failure_threshold: None,
            recovery_timeout: Some(Duration::from_secs(30)),
            half_open_max_calls: None,
            success_threshold: Some(4),
        }
    );
    assert_eq!(
        BreakerOverrides::from_lookup("TIER1_MCP", &lookup),
        Ok(overrides)
    );
    assert_eq!(
        BreakerOverrides::from_lookup("other", &lookup),
        Ok(BreakerOverrides {
            failure_threshold: Some(9),
            ..BreakerOverrides::default()
        })
    );
    assert_eq!(
        BreakerOverrides::from_lookup("absent", &lookup),
        Ok(BreakerOverrides::default())
    );
}

#[test]
fn overrides_follow_the_global_rules() {
    let cases: [(BreakerKey, &str, &str); 8] = [
        (BreakerKey::FailureThreshold, "0", "must be at least 1"),
        (
            BreakerKey::FailureThreshold,
            "1000001",
            "too large; at most 1000000",
        ),
        (
            BreakerKey::RecoveryTimeout,
            "0",
            "must be greater than zero",
        ),
        (BreakerKey::RecoveryTimeout, "10 parsecs", "unknown unit"),
        (BreakerKey::RecoveryTimeout, "-1", "must not be negative"),
        (
            BreakerKey::HalfOpenCalls,
            "10001",
            "too large; at most 10000",
        ),
        (
            BreakerKey::SuccessThreshold,
            "５",
            "expected a whole number",
        ),
        (BreakerKey::SuccessThreshold, "", "empty value"),
    ];
    for (key, text, reason) in cases {
        let variable = key.breaker_var("tier1_mcp");
        let err = BreakerOverrides::from_lookup("tier1_mcp", env(&[(variable.as_str(), text)]))
            .unwrap_err();
        assert_invalid(&err, &variable, text, reason);
        // The same value is rejected for the same reason in the global variable.
        let global = Settings::from_lookup(env(&[(key.global_var(), text)])).unwrap_err();
        assert_invalid(&global, key.global_var(), text, reason);
    }
}

#[test]
fn lenient_overrides_drop_bad_values() {
    let (overrides, errors) = BreakerOverrides::from_lookup_lenient(
        "db",
        env(&[
            ("CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD", "zero"),
            ("CIRCUIT_BREAKER_DB_HALF_OPEN_CALLS", "5"),
            ("CIRCUIT_BREAKER_DB_FAILURE_THRESHOLD", "-3"),
        ]),
    );
    assert_eq!(
        overrides,
        BreakerOverrides {
            half_open_max_calls: Some(5),
            ..BreakerOverrides::default()
        }
    );
    assert_eq!(errors.len(), 2);
    assert_invalid(
        &errors[0],
        "CIRCUIT_BREAKER_DB_FAILURE_THRESHOLD",
        "-3",
        "must be at least 1",
    );
    assert_invalid(
        &errors[1],
        "CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD",
        "zero",
        "expected a whole number",
    );
    // Strict mode returns the first of them.
    let strict = BreakerOverrides::from_lookup(
        "db",
        env(&[
            ("CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD", "zero"),
            ("CIRCUIT_BREAKER_DB_FAILURE_THRESHOLD", "-3"),
        ]),
    );
    assert_eq!(strict, Err(errors[0].clone()));
}

#[test]
fn breaker_variable_names_are_split_on_whole_keys() {
    assert_eq!(
        parse_breaker_var("CIRCUIT_BREAKER_TIER1_MCP_FAILURE_THRESHOLD"),
        Some(("TIER1_MCP", BreakerKey::FailureThreshold))
    );
    assert_eq!(
        parse_breaker_var("CIRCUIT_BREAKER_X_HALF_OPEN_CALLS"),
        Some(("X", BreakerKey::HalfOpenCalls))
    );
    assert_eq!(
        parse_breaker_var("CIRCUIT_BREAKER_HALF_OPEN_RECOVERY_TIMEOUT"),
        Some(("HALF_OPEN", BreakerKey::RecoveryTimeout))
    );
    assert_eq!(
        parse_breaker_var("CIRCUIT_BREAKER_SUCCESS_SUCCESS_THRESHOLD"),
        Some(("SUCCESS", BreakerKey::SuccessThreshold))
    );
    for global in BreakerKey::ALL.map(BreakerKey::global_var) {
        assert_eq!(parse_breaker_var(global), None, "{global}");
    }
    for other in [
        "CIRCUIT_BREAKER__FAILURE_THRESHOLD",
        "CIRCUIT_BREAKER_X_CALLS",
        "CIRCUIT_BREAKER_X_FAILURE_THRESHOLDS",
        "CIRCUIT_BREAKER_XFAILURE_THRESHOLD",
        "CIRCUIT_BREAKER_X_WINDOW_SIZE",
        "circuit_breaker_x_failure_threshold",
        "MY_CIRCUIT_BREAKER_X_FAILURE_THRESHOLD",
        "RETRY_BASE_DELAY",
        "",
    ] {
        assert_eq!(parse_breaker_var(other), None, "{other}");
    }
}

// --- init ------------------------------------------------------------------------------

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn init_reads_globals_and_checks_breaker_variables() {
    let settings = init_from(vars(&[
        ("PATH", "/usr/bin"),
        ("HOME", ""),
        (CIRCUIT_BREAKER_FAILURE_THRESHOLD, "8"),
        (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "4"),
        ("CIRCUIT_BREAKER_TIER1_MCP_RECOVERY_TIMEOUT", "30s"),
        ("CIRCUIT_BREAKER_X_HALF_OPEN_CALLS", "2"),
        // Not per-breaker variables: none of them is checked.
        ("CIRCUIT_BREAKER__FAILURE_THRESHOLD", "junk"),
        ("CIRCUIT_BREAKER_X_WINDOW_SIZE", "junk"),
        ("CIRCUIT_BREAKER_ENABLED", "junk"),
        ("circuit_breaker_x_failure_threshold", "junk"),
    ]))
    .unwrap();
    let mut expected = Settings::BUILT_IN;
    expected.breaker.failure_threshold = 8;
    expected.breaker.half_open_max_calls = 4;
    assert_eq!(settings, expected);
    assert_eq!(
        init_from(Vec::<(String, String)>::new()),
        Ok(Settings::BUILT_IN)
    );
}

#[test]
fn init_reports_a_bad_breaker_variable() {
    let err = init_from(vars(&[
        (CIRCUIT_BREAKER_FAILURE_THRESHOLD, "8"),
        ("CIRCUIT_BREAKER_TIER1_MCP_RECOVERY_TIMEOUT", "30s"),
        ("CIRCUIT_BREAKER_TIER2_SDK_HALF_OPEN_CALLS", "0"),
    ]))
    .unwrap_err();
    assert_invalid(
        &err,
        "CIRCUIT_BREAKER_TIER2_SDK_HALF_OPEN_CALLS",
        "0",
        "must be at least 1",
    );
}

#[test]
fn init_reports_global_errors_first_then_breakers_by_name() {
    let bad_breakers = [
        ("CIRCUIT_BREAKER_ZETA_FAILURE_THRESHOLD", "0"),
        ("CIRCUIT_BREAKER_ALPHA_RECOVERY_TIMEOUT", "soon"),
    ];
    let err = init_from(vars(&bad_breakers)).unwrap_err();
    assert_invalid(
        &err,
        "CIRCUIT_BREAKER_ALPHA_RECOVERY_TIMEOUT",
        "soon",
        "expected a number of seconds",
    );

    let mut with_global = bad_breakers.to_vec();
    with_global.push((HEALTH_CHECK_INTERVAL, "never"));
    with_global.push((RETRY_MAX_DELAY, "-1"));
    let err = init_from(vars(&with_global)).unwrap_err();
    assert_invalid(&err, RETRY_MAX_DELAY, "-1", "must not be negative");
}

#[test]
fn init_uses_the_last_value_of_a_repeated_variable() {
    let ok = init_from(vars(&[
        (MAX_RETRY_ATTEMPTS_VAR, "0"),
        (MAX_RETRY_ATTEMPTS_VAR, "4"),
    ]));
    assert_eq!(ok.map(|s| s.retry.max_attempts), Ok(4));
}

#[test]
fn init_reports_variables_that_break_a_rule_between_two_settings() {
    // One variable against a built-in default.
    let err = init_from(vars(&[(CIRCUIT_BREAKER_HALF_OPEN_CALLS, "1")])).unwrap_err();
    assert_invalid(
        &err,
        CIRCUIT_BREAKER_HALF_OPEN_CALLS,
        "1",
        "must be at least 2 (success_threshold, the built-in default)",
    );
    let err = init_from(vars(&[
        (RETRY_BASE_DELAY, "120"),
        (MAX_RETRY_ATTEMPTS_VAR, "5"),
    ]))
    .unwrap_err();
    assert_invalid(
        &err,
        RETRY_BASE_DELAY,
        "120",
        "must not exceed 60s (max_delay, the built-in default)",
    );
    // Two variables together: the error names both, and blames the bounded setting.
    let err = init_from(vars(&[
        (CIRCUIT_BREAKER_SUCCESS_THRESHOLD, "5"),
        (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "4"),
    ]))
    .unwrap_err();
    assert_invalid(
        &err,
        CIRCUIT_BREAKER_SUCCESS_THRESHOLD,
        "5",
        r#"must be at most 4 (half_open_max_calls, from CIRCUIT_BREAKER_HALF_OPEN_CALLS="4")"#,
    );
    let err = init_from(vars(&[(RETRY_BASE_DELAY, "10s"), (RETRY_MAX_DELAY, "5s")])).unwrap_err();
    assert_invalid(
        &err,
        RETRY_BASE_DELAY,
        "10s",
        r#"must not exceed 5s (max_delay, from RETRY_MAX_DELAY="5s")"#,
    );
    // A breaker's own variables, together and against the global ones.
    let err = init_from(vars(&[
        ("CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD", "8"),
        ("CIRCUIT_BREAKER_DB_HALF_OPEN_CALLS", "7"),
    ]))
    .unwrap_err();
    assert_invalid(
        &err,
        "CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD",
        "8",
        r#"(half_open_max_calls, from CIRCUIT_BREAKER_DB_HALF_OPEN_CALLS="7")"#,
    );
    let err = init_from(vars(&[
        (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "6"),
        ("CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD", "7"),
    ]))
    .unwrap_err();
    assert_invalid(
        &err,
        "CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD",
        "7",
        r#"must be at most 6 (half_open_max_calls, from CIRCUIT_BREAKER_HALF_OPEN_CALLS="6")"#,
    );
    // Parse errors come first, in the documented order.
    let err = init_from(vars(&[
        (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "1"),
        ("CIRCUIT_BREAKER_DB_FAILURE_THRESHOLD", "0"),
        (HEALTH_CHECK_INTERVAL, "never"),
    ]))
    .unwrap_err();
    assert_eq!(err.input(), HEALTH_CHECK_INTERVAL);
    // Combinations that keep every rule are accepted.
    let settings = init_from(vars(&[
        (CIRCUIT_BREAKER_SUCCESS_THRESHOLD, "4"),
        (CIRCUIT_BREAKER_HALF_OPEN_CALLS, "4"),
        ("CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD", "6"),
        ("CIRCUIT_BREAKER_DB_HALF_OPEN_CALLS", "6"),
        ("CIRCUIT_BREAKER_CACHE_SUCCESS_THRESHOLD", "1"),
        (RETRY_BASE_DELAY, "2m"),
        (RETRY_MAX_DELAY, "5m"),
    ]))
    .unwrap();
    assert_eq!(settings.breaker.success_threshold, 4);
    assert_eq!(settings.retry.base_delay, Duration::from_secs(120));
}

#[test]
fn init_judges_a_breakers_variables_with_the_values_its_attribute_writes() {
    let var = "CIRCUIT_BREAKER_BILLING__ZOHO__GET_ACCOUNT_SUCCESS_THRESHOLD";
    // `#[circuit_breaker(half_open_max_calls = 5)]` on `billing::zoho::get_account`: its
    // breaker takes 4 from the variable, and so does `init`.
    let five = [("billing::zoho::get_account", (None, Some(5)))];
    assert_eq!(
        init_with(vars(&[(var, "4")]), &five),
        Ok(Settings::BUILT_IN)
    );
    // Without the attribute's values, 4 is above the built-in default of 3.
    let err = init_with(vars(&[(var, "4")]), &[]).unwrap_err();
    assert_invalid(
        &err,
        var,
        "4",
        "must be at most 3 (half_open_max_calls, the built-in default)",
    );
    // The attribute's values hold against the variables too, its own and the global ones.
    let two = [("billing::zoho::get_account", (None, Some(2)))];
    let err = init_with(vars(&[(var, "3")]), &two).unwrap_err();
    assert_invalid(
        &err,
        var,
        "3",
        "must be at most 2 (half_open_max_calls, as written)",
    );
    let err = init_with(vars(&[(CIRCUIT_BREAKER_SUCCESS_THRESHOLD, "3")]), &two).unwrap_err();
    assert_invalid(
        &err,
        CIRCUIT_BREAKER_SUCCESS_THRESHOLD,
        "3",
        "must be at most 2 (half_open_max_calls, as written)",
    );
    // A written success threshold beats the global variable.
    let one_of_two = [("billing::zoho::get_account", (Some(1), Some(2)))];
    assert!(
        init_with(
            vars(&[(CIRCUIT_BREAKER_SUCCESS_THRESHOLD, "3")]),
            &one_of_two
        )
        .is_ok()
    );
    // Two breakers whose names the variables spell alike are each judged with their own values.
    let both = [
        ("billing::zoho::get_account", (None, Some(5))),
        ("BILLING__ZOHO__GET_ACCOUNT", (None, None)),
    ];
    let err = init_with(vars(&[(var, "4")]), &both).unwrap_err();
    assert_invalid(
        &err,
        var,
        "4",
        "must be at most 3 (half_open_max_calls, the built-in default)",
    );
}

#[cfg(unix)]
#[test]
fn init_rejects_a_non_utf8_breaker_value() {
    use std::os::unix::ffi::OsStringExt;
    let err = init_from([
        (
            "CIRCUIT_BREAKER_DB_FAILURE_THRESHOLD".to_owned(),
            OsString::from_vec(vec![0xc3, b'7']),
        ),
        ("UNRELATED".to_owned(), OsString::from_vec(vec![0xff])),
    ])
    .unwrap_err();
    assert_invalid(
        &err,
        "CIRCUIT_BREAKER_DB_FAILURE_THRESHOLD",
        "\u{fffd}7",
        "not valid UTF-8",
    );
}

#[test]
fn init_and_settings_agree_with_the_process_environment() {
    // The tests never set variables; whatever the environment holds, the functions agree.
    let (lenient, errors) = Settings::from_env_lenient();
    assert_eq!(*settings(), lenient);
    assert!(std::ptr::eq(settings(), settings()));
    match (Settings::from_env(), init()) {
        (Ok(global), Ok(all)) => assert_eq!(global, all),
        (Ok(_), Err(e)) => assert!(parse_breaker_var(e.input()).is_some(), "{e}"),
        (Err(global), all) => {
            assert_eq!(all, Err(global.clone()));
            assert_eq!(errors.first(), Some(&global));
        }
    }
}

// --- names -----------------------------------------------------------------------------

#[test]
fn breaker_names() {
    for good in ["tier1_mcp", "ZOHO", "_private", "a", "a1_b2", "x__y_"] {
        assert_eq!(validate_name(good), Ok(()), "{good:?}");
    }
    let bad: [(&str, &str); 7] = [
        ("", "must not be empty"),
        ("1tier", "must not start with a digit"),
        (
            "tier-1",
            "may contain only ASCII letters, digits and '_' (found '-')",
        ),
        (
            "tier 1",
            "may contain only ASCII letters, digits and '_' (found ' ')",
        ),
        (
            "café",
            "may contain only ASCII letters, digits and '_' (found 'é')",
        ),
        (
            "a.b",
            "may contain only ASCII letters, digits and '_' (found '.')",
        ),
        (
            "ｔｉｅｒ",
            "may contain only ASCII letters, digits and '_' (found 'ｔ')",
        ),
    ];
    for (name, reason) in bad {
        assert_eq!(validate_name(name), Err(reason.to_owned()), "{name:?}");
    }
}

// --- logging ---------------------------------------------------------------------------

type Events = Arc<Mutex<Vec<(tracing::Level, String, BTreeMap<String, String>)>>>;

struct Capture(Events);

struct Fields(BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        let meta = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((*meta.level(), meta.target().to_owned(), fields.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn bad_variables_are_logged_at_error_level() {
    let (_, errors) = Settings::from_lookup_lenient(env(&[
        (CIRCUIT_BREAKER_FAILURE_THRESHOLD, "0"),
        (RETRY_JITTER_ENABLED, "maybe"),
    ]));
    let events = Events::default();
    tracing::subscriber::with_default(Capture(events.clone()), || log_invalid(&errors));
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 2);
    for ((level, target, fields), error) in events.iter().zip(&errors) {
        assert_eq!(*level, tracing::Level::ERROR);
        assert_eq!(target, "resilience");
        assert_eq!(fields["variable"], error.input());
        assert_eq!(fields["value"], error.value());
        assert_eq!(fields["error"], error.to_string());
        assert!(fields["message"].contains("built-in default"));
    }
    assert_eq!(events[0].2["variable"], CIRCUIT_BREAKER_FAILURE_THRESHOLD);
    assert_eq!(events[1].2["value"], "maybe");
}

// --- rules between two settings ------------------------------------------------------------

proptest::proptest! {
    /// Whatever the variables say, with written values that keep the rule with the defaults: the
    /// rule holds afterwards, each value is the first candidate not ignored, and every ignored
    /// variable breaks the rule on its own once put back.
    #[test]
    fn settling_a_rule_ignores_only_variables_that_break_it(
        breaker_success in proptest::option::of(1u32..8),
        breaker_probes in proptest::option::of(1u32..8),
        global_success in proptest::option::of(1u32..8),
        global_probes in proptest::option::of(1u32..8),
        written_success in proptest::option::of(1u32..8),
        written_probes in proptest::option::of(1u32..8),
    ) {
        let b = BreakerSettings::BUILT_IN;
        proptest::prop_assume!(
            written_success.unwrap_or(b.success_threshold)
                <= written_probes.unwrap_or(b.half_open_max_calls)
        );
        let vars: Vec<(String, u32)> = [
            ("CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD", breaker_success),
            ("CIRCUIT_BREAKER_DB_HALF_OPEN_CALLS", breaker_probes),
            (CIRCUIT_BREAKER_SUCCESS_THRESHOLD, global_success),
            (CIRCUIT_BREAKER_HALF_OPEN_CALLS, global_probes),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect();
        // The candidates of each side, highest precedence first, as (variable, value).
        let resolve = |ignored: &[String]| {
            let side = |breaker: &str, written: Option<u32>, global: &str, default: u32| {
                let var = |name: &str| {
                    vars.iter()
                        .find(|(n, _)| n == name && !ignored.contains(n))
                        .map(|(_, v)| *v)
                };
                var(breaker).or(written).or(var(global)).unwrap_or(default)
            };
            (
                side(
                    "CIRCUIT_BREAKER_DB_SUCCESS_THRESHOLD",
                    written_success,
                    CIRCUIT_BREAKER_SUCCESS_THRESHOLD,
                    b.success_threshold,
                ),
                side(
                    "CIRCUIT_BREAKER_DB_HALF_OPEN_CALLS",
                    written_probes,
                    CIRCUIT_BREAKER_HALF_OPEN_CALLS,
                    b.half_open_max_calls,
                ),
            )
        };
        let raw = |name: &str| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| RawValue::Text(v.to_string()))
        };
        let rule = breaker_rule(&raw, Some("db"), (written_success, written_probes));
        let (success, probes, errors) = settle(&rule);
        proptest::prop_assert!(success <= probes);
        let ignored: Vec<String> = errors.iter().map(|e| e.input().to_owned()).collect();
        proptest::prop_assert_eq!((success, probes), resolve(&ignored));
        let (all_success, all_probes) = resolve(&[]);
        if all_success <= all_probes {
            proptest::prop_assert!(ignored.is_empty());
        }
        for (i, error) in errors.iter().enumerate() {
            let mut others = ignored.clone();
            others.remove(i);
            let (s, p) = resolve(&others);
            proptest::prop_assert!(s > p, "{} need not be ignored", error.input());
            let value = &vars.iter().find(|(n, _)| n == error.input()).unwrap().1;
            proptest::prop_assert_eq!(error.value(), value.to_string());
        }
    }
}

#[test]
fn init_reports_a_bad_limit_variable_and_accepts_good_ones() {
    let good = init_from(vars(&[
        ("BULKHEAD_ZOHO_ORG_MAX_CONCURRENT", "15"),
        ("BULKHEAD_ZOHO_ORG_MAX_WAIT", "2s"),
        ("RATE_LIMIT_ZOHO_CREDITS_RATE", "100000"),
        ("RATE_LIMIT_ZOHO_CREDITS_PER", "24h"),
        ("RATE_LIMIT_ZOHO_CREDITS_BURST", "500"),
        ("RATE_LIMIT_ZOHO_CREDITS_MAX_WAIT", "0"),
    ]));
    assert!(good.is_ok(), "{good:?}");
    for (variable, value, reason) in [
        (
            "BULKHEAD_ZOHO_ORG_MAX_CONCURRENT",
            "0",
            "must be at least 1",
        ),
        ("BULKHEAD_ZOHO_ORG_MAX_WAIT", "soon", "expected"),
        (
            "RATE_LIMIT_ZOHO_CREDITS_RATE",
            "-3",
            "expected a whole number",
        ),
        (
            "RATE_LIMIT_ZOHO_CREDITS_PER",
            "0s",
            "must be greater than zero",
        ),
        ("RATE_LIMIT_ZOHO_CREDITS_BURST", "2000000000", "too large"),
        (
            "RATE_LIMIT_ZOHO_CREDITS_MAX_WAIT",
            "400d",
            "at most 365 days",
        ),
    ] {
        let err = init_from(vars(&[(variable, value)])).unwrap_err();
        assert_invalid(&err, variable, value, reason);
    }
}

#[test]
fn a_limit_variable_names_its_limit_and_key() {
    assert_eq!(
        LimitKey::parse_var("RATE_LIMIT_ZOHO_CREDITS_MAX_WAIT"),
        Some(("ZOHO_CREDITS", LimitKey::RateLimitMaxWait))
    );
    assert_eq!(
        LimitKey::parse_var("BULKHEAD_ORG_MAX_CONCURRENT"),
        Some(("ORG", LimitKey::BulkheadMaxConcurrent))
    );
    assert_eq!(LimitKey::parse_var("BULKHEAD__MAX_WAIT"), None);
    assert_eq!(LimitKey::parse_var("RATE_LIMIT_RATE"), None);
    for key in LimitKey::ALL {
        assert_eq!(LimitKey::parse_var(&key.var("zoho")), Some(("ZOHO", key)));
    }
}
