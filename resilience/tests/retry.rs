//! The retry policy on paused virtual time: delays, jitter, the open-circuit rule, exhaustion,
//! the predicate and the budget.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use resilience::{CallError, CircuitBreaker, ConfigError, RetryError, RetryPolicy};
use tokio::time::Instant;

fn policy() -> resilience::RetryPolicyBuilder {
    RetryPolicy::builder().ignore_env()
}

/// Runs an operation that fails `failures` times, then succeeds; returns the result and the
/// virtual time at each call.
async fn run_failing(
    policy: &RetryPolicy,
    failures: u32,
) -> (Result<u32, RetryError<String>>, Vec<Instant>) {
    let mut calls = Vec::new();
    let result = policy
        .execute(|| {
            calls.push(Instant::now());
            let n = calls.len() as u32;
            async move {
                if n <= failures {
                    Err(format!("failure {n}"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
    (result, calls)
}

fn gaps(calls: &[Instant]) -> Vec<Duration> {
    calls.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn delays_follow_the_guides_formula_without_jitter() {
    let p = policy()
        .max_attempts(8)
        .base_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(10))
        .exponential_base(2.0)
        .jitter(false)
        .build()
        .unwrap();
    let (result, calls) = run_failing(&p, 7).await;
    assert_eq!(result.unwrap(), 8);
    let secs: Vec<u64> = gaps(&calls).iter().map(Duration::as_secs).collect();
    assert_eq!(
        secs,
        [1, 2, 4, 8, 10, 10, 10],
        "1 s, 2 s, 4 s, ... capped at max_delay"
    );
}

#[tokio::test(start_paused = true)]
async fn max_attempts_counts_the_first_call() {
    let p = policy().max_attempts(3).jitter(false).build().unwrap();
    let (result, calls) = run_failing(&p, 10).await;
    assert_eq!(calls.len(), 3);
    match result {
        Err(RetryError::Exhausted(e)) => {
            assert_eq!(e.attempts, 3);
            assert_eq!(e.last_error, "failure 3");
        }
        other => panic!("expected exhaustion, got {other:?}"),
    }
    let once = policy().max_attempts(1).build().unwrap();
    let (result, calls) = run_failing(&once, 10).await;
    assert_eq!((calls.len(), result.unwrap_err().attempts()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_half_to_one_and_a_half_times_and_is_reproducible() {
    let p = policy()
        .max_attempts(6)
        .base_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(12))
        .jitter(true)
        .jitter_seed(7)
        .build()
        .unwrap();
    let (_, first) = run_failing(&p, 10).await;
    let (_, second) = run_failing(&p, 10).await;
    assert_eq!(
        gaps(&first),
        gaps(&second),
        "a seeded policy repeats its waits"
    );
    for (k, gap) in gaps(&first).into_iter().enumerate() {
        let nominal = p.delay(k as u32);
        assert!(
            gap >= nominal.mul_f64(0.5),
            "attempt {k}: {gap:?} < half of {nominal:?}"
        );
        // Only a jittered wait that would pass the cap may equal it.
        let capped = nominal.mul_f64(1.5) > p.max_delay;
        assert!(
            gap < nominal.mul_f64(1.5) || (capped && gap == p.max_delay),
            "attempt {k}: {gap:?}"
        );
        assert!(gap <= p.max_delay);
    }
    assert_ne!(
        gaps(&first)[..3],
        [1, 2, 4].map(Duration::from_secs),
        "jitter must change the waits"
    );
}

proptest! {
    #[test]
    fn every_jittered_delay_is_within_its_bounds(
        base_ms in 0u64..5_000,
        extra_ms in 0u64..120_000,
        exp in 1.0f64..10.0,
        attempt in 0u32..2_000,
        factor in 0.5f64..1.5,
    ) {
        let p = policy()
            .base_delay(Duration::from_millis(base_ms))
            .max_delay(Duration::from_millis(base_ms + extra_ms))
            .exponential_base(exp)
            .build()
            .unwrap();
        let nominal = p.delay(attempt);
        let jittered = p.jittered_delay(attempt, factor);
        prop_assert!(nominal <= p.max_delay);
        prop_assert!(nominal >= p.base_delay.min(p.max_delay));
        prop_assert!(jittered <= p.max_delay);
        prop_assert!(jittered >= nominal.mul_f64(0.5).saturating_sub(Duration::from_nanos(1)));
    }
}

#[tokio::test(start_paused = true)]
async fn only_errors_the_predicate_accepts_are_retried() {
    let p = policy().max_attempts(5).jitter(false).build().unwrap();
    let mut calls = 0;
    let r = p
        .execute_if(
            |e: &&str| *e == "timeout",
            || {
                calls += 1;
                let e = if calls < 3 { "timeout" } else { "not found" };
                async move { Err::<(), _>(e) }
            },
        )
        .await;
    assert_eq!(
        calls, 3,
        "retried twice on timeouts, stopped at the first 'not found'"
    );
    match r {
        Err(RetryError::Stopped { attempts, error }) => {
            assert_eq!((attempts, error), (3, "not found"))
        }
        other => panic!("expected a stop, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_is_waited_out_when_its_retry_after_fits() {
    let breaker = CircuitBreaker::builder("retry_waits")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(30))
        .half_open_max_calls(1)
        .success_threshold(1)
        .ignore_env()
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().record_failure(); // open for 30 s
    let p = policy().max_attempts(3).jitter(false).build().unwrap();
    let start = Instant::now();
    let mut calls = 0;
    let r = p
        .call(&breaker, || {
            calls += 1;
            async { Ok::<_, String>("served") }
        })
        .await;
    assert_eq!(r.unwrap(), "served");
    assert_eq!(calls, 1, "the rejected attempt did not call the operation");
    assert_eq!(
        Instant::now() - start,
        Duration::from_secs(30),
        "waited retry_after, not 1 s"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_beyond_max_delay_stops_the_retries() {
    let breaker = CircuitBreaker::builder("retry_stops")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(120))
        .ignore_env()
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().record_failure();
    let p = policy()
        .max_attempts(5)
        .max_delay(Duration::from_secs(60))
        .build()
        .unwrap();
    let start = Instant::now();
    let r = p.call(&breaker, || async { Ok::<_, String>(()) }).await;
    match r {
        Err(RetryError::Stopped {
            attempts: 1,
            error: CallError::Rejected(open),
        }) => {
            assert_eq!(open.circuit_name(), "retry_stops");
            assert_eq!(open.retry_after(), Some(Duration::from_secs(120)));
        }
        other => panic!("expected a stop on the rejection, got {other:?}"),
    }
    assert_eq!(Instant::now(), start, "no waiting, no hammering");

    breaker.force_open();
    let r = p.call(&breaker, || async { Ok::<_, String>(()) }).await;
    assert!(
        matches!(r, Err(RetryError::Stopped { attempts: 1, .. })),
        "forced open: stop"
    );
}

#[tokio::test(start_paused = true)]
async fn the_budget_gives_up_before_a_wait_that_would_pass_it() {
    // Waits 1 + 2 + 4 = 7 s; the next (8 s) would end at 15 s. With a budget of 10 s it passes
    // the budget; with 7 s, the third wait ends exactly at it and is still taken.
    for budget in [10, 7] {
        let p = policy()
            .max_attempts(10)
            .base_delay(Duration::from_secs(1))
            .jitter(false)
            .budget(Duration::from_secs(budget))
            .build()
            .unwrap();
        let start = Instant::now();
        let (result, calls) = run_failing(&p, 100).await;
        assert_eq!(calls.len(), 4, "budget {budget} s");
        assert_eq!(Instant::now() - start, Duration::from_secs(7));
        assert!(matches!(result, Err(RetryError::Exhausted(ref e)) if e.attempts == 4));
    }
}

#[tokio::test(start_paused = true)]
async fn retries_emit_attempt_and_exhaustion_events() {
    let (events, _guard) = support::capture();
    let p = policy().max_attempts(3).jitter(false).build().unwrap();
    let _ = run_failing(&p, 10).await;
    let attempts = events.named("retry_attempt");
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].field("attempt"), "1");
    assert_eq!(attempts[0].field("delay"), "1.0");
    assert_eq!(attempts[0].field("error"), "failure 1");
    assert_eq!(attempts[1].field("delay"), "2.0");
    let exhausted = events.named("retry_exhausted");
    assert_eq!(exhausted.len(), 1);
    assert_eq!(exhausted[0].field("attempts"), "3");
    assert_eq!(exhausted[0].field("error"), "failure 3");
}

#[tokio::test(start_paused = true)]
async fn concurrent_executions_share_a_policy_without_interfering() {
    let p = Arc::new(policy().max_attempts(4).jitter(true).build().unwrap());
    let mut tasks = Vec::new();
    for fail_times in 0..4u32 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let calls = AtomicU32::new(0);
            let r = p
                .execute(|| {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    async move { if n <= fail_times { Err("no") } else { Ok(n) } }
                })
                .await;
            (fail_times, r.map_err(|e| e.attempts()))
        }));
    }
    for t in tasks {
        let (fail_times, r) = t.await.unwrap();
        assert_eq!(
            r,
            Ok(fail_times + 1),
            "each execution counts its own attempts"
        );
    }
}

#[test]
fn invalid_settings_are_errors_naming_the_setting_and_value() {
    let cases: Vec<(resilience::RetryPolicyBuilder, &str, &str)> = vec![
        (policy().max_attempts(0), "max_attempts", "0"),
        (policy().max_attempts(1_001), "max_attempts", "1001"),
        (
            policy().max_delay(Duration::from_secs(365 * 24 * 3600 + 1)),
            "max_delay",
            "31536001s",
        ),
        (
            policy()
                .base_delay(Duration::from_secs(10))
                .max_delay(Duration::from_secs(5)),
            "base_delay",
            "10s",
        ),
        (policy().exponential_base(0.5), "exponential_base", "0.5"),
        (
            policy().exponential_base(f64::INFINITY),
            "exponential_base",
            "inf",
        ),
        (policy().budget(Duration::ZERO), "budget", "0s"),
    ];
    // The limits themselves are allowed.
    let at_limits = policy()
        .max_attempts(1_000)
        .max_delay(Duration::from_secs(365 * 24 * 3600))
        .build()
        .unwrap();
    assert_eq!(at_limits.max_attempts, 1_000);
    for (builder, setting, value) in cases {
        match builder.build() {
            Err(ConfigError::InvalidSetting {
                setting: s,
                value: v,
                ..
            }) => {
                assert_eq!((s, v.as_str()), (setting, value))
            }
            other => panic!("{setting}: expected an error, got {other:?}"),
        }
    }
}

#[test]
fn environment_defaults_apply_below_code_values() {
    let env: HashMap<&str, &str> = [
        ("MAX_RETRY_ATTEMPTS", "7"),
        ("RETRY_BASE_DELAY", "250ms"),
        ("RETRY_JITTER_ENABLED", "false"),
    ]
    .into();
    let lookup = |k: &str| env.get(k).map(|v| v.to_string());
    let p = RetryPolicy::builder().build_with_env(lookup).unwrap();
    assert_eq!(
        (p.max_attempts, p.base_delay, p.jitter),
        (7, Duration::from_millis(250), false)
    );
    let p = RetryPolicy::builder()
        .max_attempts(2)
        .build_with_env(lookup)
        .unwrap();
    assert_eq!(p.max_attempts, 2, "code beats the global variable");

    // A variable that makes the policy unworkable is ignored (and logged), not fatal.
    let bad: HashMap<&str, &str> = [("RETRY_BASE_DELAY", "2m")].into();
    let p = RetryPolicy::builder()
        .build_with_env(|k| bad.get(k).map(|v| v.to_string()))
        .unwrap();
    assert_eq!(
        p.base_delay,
        Duration::from_secs(1),
        "2m > max_delay 60s: default kept"
    );
}

#[test]
fn the_default_policy_is_the_guides() {
    let p = RetryPolicy::default();
    assert_eq!(p.max_attempts, 3);
    assert_eq!(p.base_delay, Duration::from_secs(1));
    assert_eq!(p.max_delay, Duration::from_secs(60));
    assert_eq!(p.exponential_base, 2.0);
    assert!(p.jitter);
}

#[test]
fn a_zero_base_delay_waits_nothing_even_when_the_growth_overflows() {
    let p = policy()
        .base_delay(Duration::ZERO)
        .max_delay(Duration::from_secs(5))
        .exponential_base(1e300)
        .jitter(false)
        .build()
        .unwrap();
    // 0 * 1e300^k is 0 until the power overflows to infinity, and 0 * inf is NaN: still 0.
    for attempt in [0, 1, 2, 50] {
        assert_eq!(p.delay(attempt), Duration::ZERO, "attempt {attempt}");
    }
    let big = policy()
        .base_delay(Duration::from_millis(1))
        .max_delay(Duration::from_secs(5))
        .exponential_base(1e300)
        .jitter(false)
        .build()
        .unwrap();
    assert_eq!(
        big.delay(50),
        Duration::from_secs(5),
        "an infinite wait is capped"
    );
}

#[test]
fn a_run_counts_its_failed_attempts() {
    use resilience::retry::Verdict;
    let p = policy().max_attempts(5).jitter(false).build().unwrap();
    let mut run = p.start();
    assert_eq!(run.attempts(), 0);
    run.after_failure("first", Verdict::Retry).unwrap();
    assert_eq!(run.attempts(), 1);
    run.after_failure("second", Verdict::Retry).unwrap();
    run.after_failure("third", Verdict::Retry).unwrap();
    assert_eq!(run.attempts(), 3);
}

#[test]
fn an_open_circuits_wait_is_never_shorter_than_the_backoff() {
    use resilience::retry::Verdict;
    let p = policy()
        .max_attempts(5)
        .base_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(60))
        .jitter(false)
        .build()
        .unwrap();
    let mut run = p.start();
    let short = Duration::from_millis(10);
    // After failed attempt k (1-based) the backoff is delay(k - 1): 1 s, then 2 s, then 4 s.
    let mut next = |wait| {
        run.after_failure("open", Verdict::RetryAfter(wait))
            .unwrap()
    };
    assert_eq!(next(short), Duration::from_secs(1));
    assert_eq!(next(short), Duration::from_secs(2));
    let long = Duration::from_secs(30);
    assert_eq!(next(long), long);
}

/// base_delay must not exceed max_delay. When a variable breaks that rule, the variable is what
/// is ignored and logged, whichever side of the rule it set.
#[test]
fn a_variable_that_breaks_a_rule_between_two_settings_is_the_one_ignored() {
    let build = |builder: resilience::RetryPolicyBuilder, vars: &[(&str, &str)]| {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (events, _guard) = support::capture();
        let p = builder.build_with_env(|k| vars.get(k).cloned()).unwrap();
        let logged: Vec<(String, String)> = events
            .named("config_error")
            .iter()
            .map(|e| (e.field("variable").to_owned(), e.field("value").to_owned()))
            .collect();
        ((p.base_delay, p.max_delay), logged)
    };
    let secs = Duration::from_secs;
    let logged = |var: &str, value: &str| vec![(var.to_owned(), value.to_owned())];
    // The global cap below the default base delay (1 s): neither set in code.
    assert_eq!(
        build(RetryPolicy::builder(), &[("RETRY_MAX_DELAY", "500ms")]),
        ((secs(1), secs(60)), logged("RETRY_MAX_DELAY", "500ms"))
    );
    // The base set in code: its variable did not break the rule, the cap's did.
    assert_eq!(
        build(
            RetryPolicy::builder().base_delay(secs(2)),
            &[("RETRY_BASE_DELAY", "1ms"), ("RETRY_MAX_DELAY", "1s")]
        ),
        ((secs(2), secs(60)), logged("RETRY_MAX_DELAY", "1s"))
    );
}

/// An operation failing with `hint` (seconds) on its first `failures` calls: the retry-after
/// hint of each error, the calls' virtual times and the outcome.
async fn run_with_hint(
    policy: &RetryPolicy,
    failures: u32,
    hint: Option<Duration>,
) -> (Result<u32, RetryError<String>>, Vec<Duration>) {
    let start = Instant::now();
    let mut calls = Vec::new();
    let result = policy
        .execute_with_retry_after(
            |_: &String| hint,
            || {
                calls.push(start.elapsed());
                let n = calls.len() as u32;
                async move {
                    if n <= failures {
                        Err(format!("429 #{n}"))
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
    (result, calls)
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_is_waited_instead_of_the_shorter_backoff() {
    let p = policy()
        .max_attempts(3)
        .base_delay(Duration::from_millis(100))
        .jitter(false)
        .build()
        .unwrap();
    let secs = Duration::from_secs;
    let (result, calls) = run_with_hint(&p, 2, Some(secs(2))).await;
    assert_eq!(result.unwrap(), 3);
    assert_eq!(calls, [secs(0), secs(2), secs(4)]);
    // No hint: the backoff, 100 ms then 200 ms.
    let (result, calls) = run_with_hint(&p, 2, None).await;
    assert_eq!(result.unwrap(), 3);
    let ms = Duration::from_millis;
    assert_eq!(calls, [ms(0), ms(100), ms(300)]);
    // A hint shorter than the backoff: the backoff.
    let (_, calls) = run_with_hint(&p, 1, Some(ms(10))).await;
    assert_eq!(calls, [ms(0), ms(100)]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_longer_than_max_delay_stops_at_once() {
    let p = policy()
        .max_attempts(5)
        .max_delay(Duration::from_secs(10))
        .build()
        .unwrap();
    let start = Instant::now();
    let (result, calls) = run_with_hint(&p, 5, Some(Duration::from_secs(11))).await;
    match result {
        Err(RetryError::Stopped { attempts, error }) => {
            assert_eq!((attempts, error.as_str()), (1, "429 #1"));
        }
        other => panic!("expected a stop, got {other:?}"),
    }
    assert_eq!(calls.len(), 1, "never retried before the time it was told");
    assert_eq!(start.elapsed(), Duration::ZERO, "no wait before giving up");
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_past_the_budget_gives_up_without_waiting() {
    let p = policy()
        .max_attempts(5)
        .base_delay(Duration::from_millis(100))
        .jitter(false)
        .budget(Duration::from_secs(3))
        .build()
        .unwrap();
    let start = Instant::now();
    // 2 s fits the 3 s budget once; the second 2 s wait would end at 4 s.
    let (result, calls) = run_with_hint(&p, 5, Some(Duration::from_secs(2))).await;
    assert!(
        matches!(result, Err(RetryError::Exhausted(ref e)) if e.attempts == 2),
        "{result:?}"
    );
    assert_eq!(calls, [Duration::ZERO, Duration::from_secs(2)]);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[test]
fn the_crates_errors_get_their_verdicts() {
    use resilience::Error;
    use resilience::limit::{Bulkhead, RateLimiter, Timeout};
    use resilience::retry::Verdict;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let limiter = RateLimiter::builder("verdict_rl", 1, Duration::from_secs(4))
            .ignore_env()
            .build()
            .unwrap();
        limiter.try_acquire().unwrap();
        let refused = Error::from(limiter.try_acquire().unwrap_err());
        assert_eq!(
            Verdict::for_error(&refused),
            Verdict::RetryAfter(Duration::from_secs(4))
        );
        // A cost above the whole burst never passes: no point waiting.
        let never = Error::from(limiter.try_acquire_n(2).unwrap_err());
        assert_eq!(Verdict::for_error(&never), Verdict::Stop);

        let bulkhead = Bulkhead::builder("verdict_bh")
            .max_concurrent(1)
            .ignore_env()
            .build()
            .unwrap();
        let _slot = bulkhead.try_acquire().unwrap();
        let full = Error::from(bulkhead.try_acquire().unwrap_err());
        assert_eq!(Verdict::for_error(&full), Verdict::Retry);

        let timeout = Timeout::new(Duration::from_secs(1)).unwrap();
        let elapsed = timeout
            .run(tokio::time::sleep(Duration::from_secs(2)))
            .await
            .unwrap_err();
        assert_eq!(Verdict::for_error(&Error::from(elapsed)), Verdict::Retry);

        let open = resilience::CircuitBreakerOpenError::new("t", Some(Duration::from_secs(30)));
        assert_eq!(
            Verdict::for_error(&Error::from(open)),
            Verdict::RetryAfter(Duration::from_secs(30))
        );
        let forced = resilience::CircuitBreakerOpenError::new("t", None);
        assert_eq!(Verdict::for_error(&Error::from(forced)), Verdict::Stop);
        let config = RetryPolicy::builder()
            .ignore_env()
            .max_attempts(0)
            .build()
            .unwrap_err();
        assert_eq!(Verdict::for_error(&Error::from(config)), Verdict::Stop);
    });
}

/// A rate limiter's refusal, retried through `Verdict::for_error`: the next attempt comes
/// exactly when the limiter's tokens are back, and passes.
#[tokio::test(start_paused = true)]
async fn a_rate_limiters_refusal_is_retried_when_its_tokens_are_back() {
    use resilience::Error;
    use resilience::limit::RateLimiter;
    use resilience::retry::Verdict;

    let limiter = RateLimiter::builder("retry_rl", 1, Duration::from_secs(3))
        .ignore_env()
        .build()
        .unwrap();
    let p = policy()
        .max_attempts(3)
        .base_delay(Duration::from_millis(10))
        .jitter(false)
        .build()
        .unwrap();
    limiter.try_acquire().unwrap();
    let start = Instant::now();
    let mut calls = 0;
    let result = p
        .run(Verdict::for_error, || {
            calls += 1;
            let taken = limiter.try_acquire().map_err(Error::from);
            async move { taken.map(|()| "served") }
        })
        .await;
    assert_eq!(result.unwrap(), "served");
    assert_eq!((calls, start.elapsed()), (2, Duration::from_secs(3)));
}
