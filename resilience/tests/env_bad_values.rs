//! Bad values in every environment variable, through the builders.
//!
//! `config.rs`'s unit tests parse each global variable's bad values through
//! `Settings::from_lookup`, and `tests/env.rs` covers precedence with one bad value or two. What
//! was left: that the *builders* (`CircuitBreaker::builder(..).build_with_env`,
//! `RetryPolicy::builder().build_with_env`) keep the default, or the next value in precedence,
//! for every variable — the 10 global ones and the 4 per-breaker keys — and log an error naming
//! the variable and the value; and a few classes of value the unit tests do not try (an
//! exponential base that overflows to infinity, a boolean that is a huge number, digits from other
//! scripts, zero-width characters, a duration with a unit that overflows).
//!
//! One table of bad values per kind of variable, five classes each: garbage, overflow, negative,
//! empty, Unicode. The values differ from the unit tests' on purpose.

mod support;

use std::time::Duration;

use resilience::config::{self, BreakerKey, BreakerOverrides, Settings};
use resilience::{CircuitBreaker, CircuitBreakerConfig, ConfigError, RetryPolicy};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Count,
    Duration,
    Float,
    Bool,
}

/// (class, value): every value is invalid for its kind.
fn bad_values(kind: Kind) -> [(&'static str, &'static str); 6] {
    match kind {
        Kind::Count => [
            ("garbage", "lots"),
            ("overflow", "4294967296"),
            ("negative", "-7"),
            ("empty", ""),
            ("unicode", "\u{663}"),   // ARABIC-INDIC DIGIT THREE
            ("unicode", "7\u{200b}"), // a zero-width space, which trim() keeps
        ],
        Kind::Duration => [
            ("garbage", "soon"),
            ("overflow", "18446744073709551616s"),
            ("negative", "-30s"),
            ("empty", "\u{3000}"), // IDEOGRAPHIC SPACE: blank once trimmed
            ("unicode", "\u{ff13}\u{ff10}s"), // FULLWIDTH "30" then "s"
            ("unicode", "30 \u{79d2}"), // "30 秒"
        ],
        Kind::Float => [
            ("garbage", "two"),
            ("overflow", "1e309"),
            ("negative", "-2"),
            ("empty", ""),
            ("unicode", "\u{ff12}.0"), // FULLWIDTH 2
            ("unicode", "2\u{2009}0"), // a thin space inside the number
        ],
        Kind::Bool => [
            ("garbage", "sometimes"),
            ("overflow", "18446744073709551616"),
            ("negative", "-1"),
            ("empty", " "),
            ("unicode", "\u{43e}n"),   // CYRILLIC o, then n
            ("unicode", "tru\u{435}"), // "true" with a CYRILLIC e
        ],
    }
}

const BREAKER_GLOBALS: [(&str, Kind); 4] = [
    (config::CIRCUIT_BREAKER_FAILURE_THRESHOLD, Kind::Count),
    (config::CIRCUIT_BREAKER_RECOVERY_TIMEOUT, Kind::Duration),
    (config::CIRCUIT_BREAKER_HALF_OPEN_CALLS, Kind::Count),
    (config::CIRCUIT_BREAKER_SUCCESS_THRESHOLD, Kind::Count),
];

const RETRY_GLOBALS: [(&str, Kind); 5] = [
    (config::MAX_RETRY_ATTEMPTS_VAR, Kind::Count),
    (config::RETRY_BASE_DELAY, Kind::Duration),
    (config::RETRY_MAX_DELAY, Kind::Duration),
    (config::RETRY_EXPONENTIAL_BASE, Kind::Float),
    (config::RETRY_JITTER_ENABLED, Kind::Bool),
];

fn key_kind(key: BreakerKey) -> Kind {
    match key {
        BreakerKey::RecoveryTimeout => Kind::Duration,
        _ => Kind::Count,
    }
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// A strict error: `InvalidEnv` naming `variable` and `value`, in its fields and its message.
#[track_caller]
fn assert_names(err: &ConfigError, variable: &str, value: &str) {
    assert!(
        matches!(err, ConfigError::InvalidEnv { .. }),
        "{variable}={value:?}: {err:?}"
    );
    assert_eq!((err.input(), err.value()), (variable, value));
    let message = err.to_string();
    assert!(
        message.contains(&format!("{variable}={value:?}")),
        "{message}"
    );
}

/// Runs `build` and checks that it logged exactly one `config_error` naming `variable` and
/// `value`. (The crate logs each bad variable and value once per process; every pair of this
/// binary is distinct.)
#[track_caller]
fn assert_logged<T>(variable: &str, value: &str, build: impl FnOnce() -> T) -> T {
    let (events, _guard) = support::capture();
    let built = build();
    let logged: Vec<_> = events.named("config_error");
    assert_eq!(logged.len(), 1, "{variable}={value:?}: {logged:?}");
    let e = &logged[0];
    assert_eq!(e.level, tracing::Level::ERROR);
    assert_eq!(
        (e.field("variable"), e.field("value")),
        (variable, value),
        "{variable}={value:?}"
    );
    assert!(
        e.field("error").contains(&format!("{variable}={value:?}")),
        "{}",
        e.field("error")
    );
    built
}

#[test]
fn every_global_variable_rejects_every_class_of_bad_value() {
    let all = BREAKER_GLOBALS
        .into_iter()
        .chain(RETRY_GLOBALS)
        .chain([(config::HEALTH_CHECK_INTERVAL, Kind::Duration)]);
    let mut checked = 0;
    for (variable, kind) in all {
        for (class, value) in bad_values(kind) {
            let err = Settings::from_lookup(env(&[(variable, value)]))
                .expect_err(&format!("{variable}={value:?} ({class})"));
            assert_names(&err, variable, value);
            // Leniently: only that variable is dropped, and its built-in default kept.
            let (settings, errors) = Settings::from_lookup_lenient(env(&[(variable, value)]));
            assert_eq!(settings, Settings::BUILT_IN, "{variable}={value:?}");
            assert_eq!(errors, [err]);
            checked += 1;
        }
    }
    assert_eq!(checked, 10 * 6);
}

#[test]
fn a_bad_global_variable_leaves_the_breaker_default_and_is_logged() {
    let defaults = CircuitBreakerConfig::default();
    for (variable, kind) in BREAKER_GLOBALS {
        for (class, value) in bad_values(kind) {
            let breaker = assert_logged(variable, value, || {
                CircuitBreaker::builder("envbad_global")
                    .build_with_env(env(&[(variable, value)]))
                    .unwrap_or_else(|e| panic!("{variable}={value:?} ({class}): {e}"))
            });
            assert_eq!(
                breaker.config(),
                &defaults,
                "{variable}={value:?} ({class})"
            );
        }
    }
    // The health variable is read with the others: logged by the breaker that read it, and
    // without effect on it.
    for (class, value) in bad_values(Kind::Duration) {
        let variable = config::HEALTH_CHECK_INTERVAL;
        let breaker = assert_logged(variable, value, || {
            CircuitBreaker::builder("envbad_health")
                .build_with_env(env(&[(variable, value)]))
                .unwrap_or_else(|e| panic!("{variable}={value:?} ({class}): {e}"))
        });
        assert_eq!(breaker.config(), &defaults);
    }
}

#[test]
fn a_bad_per_breaker_variable_gives_way_to_the_code_or_the_global_value() {
    // What the code sets, and what the global variables set: both differ from the defaults.
    let code = |key: BreakerKey, b: resilience::CircuitBreakerBuilder| match key {
        BreakerKey::FailureThreshold => b.failure_threshold(4),
        BreakerKey::RecoveryTimeout => b.recovery_timeout(Duration::from_secs(20)),
        BreakerKey::HalfOpenCalls => b.half_open_max_calls(4),
        BreakerKey::SuccessThreshold => b.success_threshold(1),
    };
    let global = |key: BreakerKey| match key {
        BreakerKey::FailureThreshold => "8",
        BreakerKey::RecoveryTimeout => "45s",
        BreakerKey::HalfOpenCalls => "5",
        BreakerKey::SuccessThreshold => "3",
    };
    let setting = |key: BreakerKey, c: &CircuitBreakerConfig| match key {
        BreakerKey::FailureThreshold => format!("{}", c.failure_threshold),
        BreakerKey::RecoveryTimeout => format!("{:?}", c.recovery_timeout),
        BreakerKey::HalfOpenCalls => format!("{}", c.half_open_max_calls),
        BreakerKey::SuccessThreshold => format!("{}", c.success_threshold),
    };
    for key in BreakerKey::ALL {
        for (class, value) in bad_values(key_kind(key)) {
            // Strictly: the error names the per-breaker variable.
            let variable = key.breaker_var("envbad_strict");
            let err = BreakerOverrides::from_lookup("envbad_strict", env(&[(&variable, value)]))
                .expect_err(&format!("{variable}={value:?} ({class})"));
            assert_names(&err, &variable, value);

            // Set in code too: the code's value is kept.
            let variable = key.breaker_var("envbad_code");
            let breaker = assert_logged(&variable, value, || {
                code(key, CircuitBreaker::builder("envbad_code"))
                    .build_with_env(env(&[(&variable, value)]))
                    .unwrap()
            });
            let expected = code(key, CircuitBreaker::builder("envbad_code").ignore_env())
                .build()
                .unwrap();
            assert_eq!(breaker.config(), expected.config(), "{variable}={value:?}");

            // Not set in code, set globally: the global variable's value is kept.
            let variable = key.breaker_var("envbad_global_kept");
            let breaker = assert_logged(&variable, value, || {
                CircuitBreaker::builder("envbad_global_kept")
                    .build_with_env(env(&[(&variable, value), (key.global_var(), global(key))]))
                    .unwrap()
            });
            let expected = CircuitBreaker::builder("envbad_global_kept")
                .build_with_env(env(&[(key.global_var(), global(key))]))
                .unwrap();
            assert_eq!(breaker.config(), expected.config(), "{variable}={value:?}");
            assert_ne!(
                setting(key, breaker.config()),
                setting(key, &CircuitBreakerConfig::default()),
                "the global value, not the default"
            );
        }
    }
}

#[test]
fn a_bad_retry_variable_leaves_the_policy_default_and_is_logged() {
    let defaults = RetryPolicy::builder().ignore_env().build().unwrap();
    for (variable, kind) in RETRY_GLOBALS {
        for (class, value) in bad_values(kind) {
            let policy = assert_logged(variable, value, || {
                RetryPolicy::builder()
                    .build_with_env(env(&[(variable, value)]))
                    .unwrap_or_else(|e| panic!("{variable}={value:?} ({class}): {e}"))
            });
            assert_eq!(policy, defaults, "{variable}={value:?} ({class})");
        }
    }
    // A value set in code is kept whatever the variable says.
    let policy = RetryPolicy::builder()
        .max_attempts(6)
        .build_with_env(env(&[(config::MAX_RETRY_ATTEMPTS_VAR, "six")]))
        .unwrap();
    assert_eq!(policy.max_attempts, 6);
}
