//! The guide's structured events, state-change subscriptions and the registry.

mod support;

use std::sync::Arc;
use std::time::Duration;

use resilience::{CircuitBreaker, CircuitBreakerManager, CircuitState};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::advance;

fn builder(name: &'static str) -> resilience::CircuitBreakerBuilder {
    CircuitBreaker::builder(name)
        .failure_threshold(2)
        .recovery_timeout(Duration::from_secs(60))
        .half_open_max_calls(1)
        .success_threshold(1)
        .ignore_env()
}

#[tokio::test(start_paused = true)]
async fn events_carry_the_guides_fields() {
    let (events, _guard) = support::capture();
    let b = builder("tier1_mcp").build().unwrap();
    b.try_acquire().unwrap().record_failure();
    b.try_acquire().unwrap().record_failure();
    assert!(b.try_acquire().is_err());
    advance(Duration::from_secs(60)).await;
    b.try_acquire().unwrap().record_success();

    assert_eq!(
        events.names(),
        [
            "call_failed",
            "call_failed",
            "circuit_opened",
            "call_rejected",
            "circuit_half_open",
            "circuit_closed"
        ]
    );
    let failed = &events.named("call_failed")[1];
    assert_eq!(failed.field("circuit_breaker"), "tier1_mcp");
    assert_eq!(failed.field("failure_count"), "2");
    assert_eq!(failed.field("threshold"), "2");

    let opened = &events.named("circuit_opened")[0];
    assert_eq!(opened.level, tracing::Level::WARN);
    assert_eq!(opened.field("circuit_breaker"), "tier1_mcp");
    assert_eq!(opened.field("old_state"), "closed");
    assert_eq!(opened.field("failure_count"), "2");
    assert_eq!(opened.field("recovery_timeout"), "60.0");

    let rejected = &events.named("call_rejected")[0];
    assert_eq!(rejected.field("state"), "open");
    assert_eq!(rejected.level, tracing::Level::DEBUG);

    assert_eq!(
        events.named("circuit_half_open")[0].field("old_state"),
        "open"
    );
    let closed = &events.named("circuit_closed")[0];
    assert_eq!(closed.field("old_state"), "half_open");
    assert_eq!(closed.level, tracing::Level::INFO);
}

#[tokio::test(start_paused = true)]
async fn subscribers_receive_every_transition_in_order() {
    let b = builder("sub_order").build().unwrap();
    let mut changes = b.subscribe();
    b.try_acquire().unwrap().record_failure();
    b.try_acquire().unwrap().record_failure();
    advance(Duration::from_secs(60)).await;
    b.try_acquire().unwrap().record_success();
    b.force_open();
    b.reset();
    let mut seen = Vec::new();
    while let Ok(c) = changes.try_recv() {
        assert_eq!(&*c.circuit_breaker, "sub_order");
        seen.push((c.old_state, c.new_state));
    }
    use CircuitState::*;
    assert_eq!(
        seen,
        [
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Closed),
            (Closed, ForcedOpen),
            (ForcedOpen, Closed)
        ]
    );
}

#[test]
fn a_slow_subscriber_never_blocks_calls() {
    let b = builder("sub_slow").build().unwrap();
    let mut never_reads = b.subscribe();
    // Far more transitions than the channel holds: calls go on without waiting.
    for _ in 0..(resilience::events::STATE_CHANGE_CAPACITY * 4) {
        b.force_open();
        b.reset();
    }
    match never_reads.try_recv() {
        Err(TryRecvError::Lagged(missed)) => assert!(missed > 0),
        other => panic!("expected a lag report, got {other:?}"),
    }
    // After the lag report, the subscriber reads the latest changes.
    assert!(never_reads.try_recv().is_ok());
}

#[tokio::test]
async fn a_manager_subscription_sees_every_breaker() {
    let manager = CircuitBreakerManager::new();
    let mut changes = manager.subscribe();
    let t1 = manager.register(builder("tier1_mcp")).unwrap();
    let t2 = manager.register(builder("tier2_sdk")).unwrap();
    t1.force_open();
    t2.disable();
    let a = changes.recv().await.unwrap();
    let b = changes.recv().await.unwrap();
    assert_eq!(
        (&*a.circuit_breaker, a.new_state),
        ("tier1_mcp", CircuitState::ForcedOpen)
    );
    assert_eq!(
        (&*b.circuit_breaker, b.new_state),
        ("tier2_sdk", CircuitState::Disabled)
    );
    drop(manager);
    drop((t1, t2));
    assert!(matches!(changes.recv().await, Err(RecvError::Closed)));
}

#[test]
fn registering_a_name_twice_with_another_config_keeps_the_first_and_warns() {
    let (events, _guard) = support::capture();
    let manager = CircuitBreakerManager::new();
    let first = manager.register(builder("tier1_mcp")).unwrap();
    let same = manager.register(builder("tier1_mcp")).unwrap();
    assert!(Arc::ptr_eq(&first, &same));
    assert!(
        events.named("config_conflict").is_empty(),
        "same config: no warning"
    );

    let other = manager
        .register(builder("tier1_mcp").failure_threshold(9))
        .unwrap();
    assert!(Arc::ptr_eq(&first, &other), "the first registration wins");
    assert_eq!(other.config().failure_threshold, 2);
    let warnings = events.named("config_conflict");
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].level, tracing::Level::WARN);
    assert_eq!(warnings[0].field("circuit_breaker"), "tier1_mcp");
    assert!(warnings[0].field("kept").contains("failure_threshold: 2"));
    assert!(
        warnings[0]
            .field("ignored")
            .contains("failure_threshold: 9")
    );
}

/// Bulkheads and rate limiters follow the breakers' rule: the first registration of a name
/// wins, and one with other settings is named in a `config_conflict` warning.
#[test]
fn registering_a_limit_twice_with_other_settings_keeps_the_first_and_warns() {
    use resilience::limit::{Bulkhead, RateLimiter};
    let (events, _guard) = support::capture();
    let manager = CircuitBreakerManager::new();
    let org = |n| Bulkhead::builder("zoho_org").max_concurrent(n).ignore_env();
    let first = manager.register_bulkhead(org(15)).unwrap();
    assert!(Arc::ptr_eq(
        &first,
        &manager.register_bulkhead(org(15)).unwrap()
    ));
    assert!(events.named("config_conflict").is_empty(), "same settings");
    let other = manager.register_bulkhead(org(20)).unwrap();
    assert!(Arc::ptr_eq(&first, &other), "the first registration wins");
    assert_eq!(other.config().max_concurrent, 15);

    let day = Duration::from_secs(86_400);
    let credits = |burst| {
        RateLimiter::builder("zoho_credits", 100_000, day)
            .burst(burst)
            .ignore_env()
    };
    let limiter = manager.register_rate_limiter(credits(500)).unwrap();
    let again = manager.register_rate_limiter(credits(50)).unwrap();
    assert!(Arc::ptr_eq(&limiter, &again));
    assert_eq!(again.config().burst, 500);
    assert!(
        manager
            .register_bulkhead(Bulkhead::builder("zoho-org"))
            .is_err()
    );

    let warnings = events.named("config_conflict");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings[0].level, tracing::Level::WARN);
    assert_eq!(warnings[0].field("bulkhead"), "zoho_org");
    assert!(warnings[0].field("kept").contains("max_concurrent: 15"));
    assert!(warnings[0].field("ignored").contains("max_concurrent: 20"));
    assert_eq!(warnings[1].field("rate_limiter"), "zoho_credits");
    assert!(warnings[1].field("kept").contains("burst: 500"));
    assert!(warnings[1].field("ignored").contains("burst: 50"));
    assert_eq!(
        manager.bulkhead_metrics().keys().collect::<Vec<_>>(),
        ["zoho_org"]
    );
    assert_eq!(
        manager.rate_limiter_metrics()["zoho_credits"].tokens_left,
        500
    );
}

/// A site whose written settings fail at run time (not writable in an attribute, where it is a
/// compile error; built by hand): its breaker is registered on the defaults, and the event says
/// so with its documented fields.
#[test]
fn settings_of_an_attribute_thrown_away_are_logged_as_documented() {
    use resilience::__private::BreakerSite;
    let line = line!() + 1;
    static SITE: BreakerSite = BreakerSite::named("events_unworkable").success_threshold(9);
    let (events, _guard) = support::capture();
    let breaker = SITE.breaker();
    assert_eq!(breaker.config().success_threshold, 2);
    assert!(resilience::registry().get("events_unworkable").is_some());
    assert!(events.named("config_error").is_empty());
    let logged = events.named("attribute_config_error");
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].level, tracing::Level::ERROR);
    assert_eq!(logged[0].field("circuit_breaker"), "events_unworkable");
    assert_eq!(
        logged[0].field("place"),
        format!("resilience/tests/events.rs:{line}")
    );
    assert!(logged[0].field("error").contains("success_threshold"));
}

#[test]
fn the_manager_lists_and_resets_its_breakers() {
    let manager = CircuitBreakerManager::new();
    for name in ["tier3_rest", "tier1_mcp", "tier2_sdk"] {
        manager.register(builder(name)).unwrap();
    }
    assert_eq!(manager.names(), ["tier1_mcp", "tier2_sdk", "tier3_rest"]);
    assert!(manager.get("tier4_fax").is_none());
    let t2 = manager.get("tier2_sdk").unwrap();
    t2.try_acquire().unwrap().record_failure();
    t2.try_acquire().unwrap().record_failure();
    assert_eq!(manager.all_states()["tier2_sdk"], CircuitState::Open);
    let metrics = manager.all_metrics();
    assert_eq!(metrics.len(), 3);
    assert_eq!(metrics["tier2_sdk"].error_rate, 1.0);
    manager.reset_all();
    assert!(
        manager
            .all_states()
            .values()
            .all(|s| *s == CircuitState::Closed)
    );

    let fresh = manager.get_or_register("tier4_fax").unwrap();
    assert_eq!(fresh.config().failure_threshold, 5, "built-in default");
    assert!(Arc::ptr_eq(
        &fresh,
        &manager.get_or_register("tier4_fax").unwrap()
    ));
    assert!(manager.get_or_register("not a valid name").is_err());
}

#[test]
fn the_global_registry_is_shared() {
    let a = resilience::registry()
        .register(builder("global_shared"))
        .unwrap();
    let from_another_thread = std::thread::spawn(|| resilience::registry().get("global_shared"))
        .join()
        .unwrap()
        .unwrap();
    assert!(Arc::ptr_eq(&a, &from_another_thread));
}

#[derive(Debug, thiserror::Error)]
enum LevelError {
    #[error("HTTP 503")]
    Unavailable,
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

#[resilience::fallback(levels_tier2)]
#[resilience::retry(max_attempts = 3, base_delay = "10ms", jitter = false)]
#[resilience::circuit_breaker(name = "levels_tier1", failure_threshold = 5)]
async fn levels_primary(tier2_up: bool) -> Result<&'static str, LevelError> {
    let _ = tier2_up;
    Err(LevelError::Unavailable)
}

#[resilience::circuit_breaker(name = "levels_tier2", failure_threshold = 5)]
async fn levels_tier2(tier2_up: bool) -> Result<&'static str, LevelError> {
    if tier2_up {
        Ok("tier2")
    } else {
        Err(LevelError::Unavailable)
    }
}

/// Levels as an operator reading a production log needs them: attempts that are retried and
/// tiers that fall through are routine (INFO or below), a retry run that a fallback tier then
/// serves is no error, and only a call that nothing could serve is one.
#[tokio::test(start_paused = true)]
async fn a_retry_run_that_a_fallback_tier_serves_logs_no_warning_or_error_per_attempt() {
    use tracing::Level;
    let (events, _guard) = support::capture();
    assert_eq!(levels_primary(true).await.unwrap(), "tier2");

    let level_of = |name: &str| {
        let all = events.named(name);
        assert!(!all.is_empty(), "no {name} event");
        all.iter().map(|e| e.level).max().unwrap()
    };
    assert_eq!(events.named("retry_attempt").len(), 2);
    assert_eq!(level_of("retry_attempt"), Level::INFO);
    assert_eq!(level_of("call_failed"), Level::DEBUG);
    assert_eq!(level_of("retry_exhausted"), Level::WARN);
    assert_eq!(level_of("tier_failed"), Level::INFO);
    assert_eq!(level_of("fallback_used"), Level::INFO);
    assert!(
        events
            .all()
            .iter()
            .all(|e| e.level > Level::WARN || e.name() == "retry_exhausted"),
        "only the exhausted primary may warn: {:?}",
        events
            .all()
            .iter()
            .map(|e| (e.name().to_owned(), e.level))
            .collect::<Vec<_>>()
    );

    // Nothing serves: that one is an error.
    let before = events.all().len();
    levels_primary(false).await.unwrap_err();
    let errors: Vec<_> = events.all()[before..]
        .iter()
        .filter(|e| e.level == Level::ERROR)
        .map(|e| e.name().to_owned())
        .collect();
    assert_eq!(errors, ["all_tiers_failed"]);
}
