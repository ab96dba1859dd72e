//! Multi-tier fallback: order, skipping of open tiers, the full error, events.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::{
    CircuitBreaker, CircuitBreakerManager, CircuitState, FallbackHandler, Tier, TierOutcome,
};

/// A tier stand-in that counts its calls and answers as told.
struct Backend {
    calls: AtomicU32,
    answer: Result<&'static str, &'static str>,
}

impl Backend {
    fn new(answer: Result<&'static str, &'static str>) -> Self {
        Self {
            calls: AtomicU32::new(0),
            answer,
        }
    }

    async fn get(&self) -> Result<&'static str, &'static str> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.answer
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

fn manager() -> CircuitBreakerManager {
    let m = CircuitBreakerManager::new();
    for name in ["tier1_mcp", "tier2_sdk", "tier3_rest"] {
        m.register(
            CircuitBreaker::builder(name)
                .failure_threshold(2)
                .recovery_timeout(Duration::from_secs(60))
                .ignore_env(),
        )
        .unwrap();
    }
    m
}

#[tokio::test(start_paused = true)]
async fn the_first_tier_that_answers_wins_and_later_tiers_are_not_called() {
    let m = manager();
    let (t1, t2, t3) = (
        Backend::new(Err("mcp down")),
        Backend::new(Ok("sdk")),
        Backend::new(Ok("rest")),
    );
    let served = FallbackHandler::new(&m)
        .serve(
            [
                Tier::new("tier1_mcp", t1.get()),
                Tier::new("tier2_sdk", t2.get()),
                Tier::new("tier3_rest", t3.get()),
            ],
            "get_account",
        )
        .await
        .unwrap();
    assert_eq!(
        (served.value, &*served.tier, served.position),
        ("sdk", "tier2_sdk", 1)
    );
    assert_eq!((t1.calls(), t2.calls(), t3.calls()), (1, 1, 0));
    // The failure was recorded in tier 1's breaker.
    assert_eq!(m.get("tier1_mcp").unwrap().metrics().failure_count, 1);
}

#[tokio::test(start_paused = true)]
async fn an_open_tier_is_skipped_without_being_called() {
    let m = manager();
    let (events, _guard) = support::capture();
    let (t1, t2) = (Backend::new(Err("mcp down")), Backend::new(Ok("sdk")));
    let handler = FallbackHandler::new(&m);
    for _ in 0..5 {
        let account = handler
            .execute_with_fallback(
                [
                    Tier::new("tier1_mcp", t1.get()),
                    Tier::new("tier2_sdk", t2.get()),
                ],
                "get_account",
            )
            .await
            .unwrap();
        assert_eq!(account, "sdk");
    }
    assert_eq!(m.all_states()["tier1_mcp"], CircuitState::Open);
    assert_eq!(
        t1.calls(),
        2,
        "called until its breaker opened, then left alone"
    );
    assert_eq!(t2.calls(), 5);

    let skipped = events.named("tier_skipped");
    assert_eq!(skipped.len(), 3);
    assert_eq!(skipped[0].field("tier"), "tier1_mcp");
    assert_eq!(skipped[0].field("operation"), "get_account");
    let failed = events.named("tier_failed");
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].field("error"), "mcp down");
    let used = events.named("fallback_used");
    assert_eq!(used.len(), 5);
    assert_eq!(used[0].field("tier"), "tier2_sdk");
}

#[tokio::test(start_paused = true)]
async fn all_tiers_failing_lists_every_tier_in_order() {
    let m = manager();
    m.get("tier1_mcp").unwrap().force_open();
    let (events, _guard) = support::capture();
    let (t1, t2, t3) = (
        Backend::new(Ok("mcp")),
        Backend::new(Err("sdk 503")),
        Backend::new(Err("rest 500")),
    );
    let err = FallbackHandler::new(&m)
        .execute_with_fallback(
            [
                Tier::new("tier1_mcp", t1.get()),
                Tier::new("tier2_sdk", t2.get()),
                Tier::new("tier3_rest", t3.get()),
            ],
            "get_account",
        )
        .await
        .unwrap_err();
    assert_eq!(err.operation, "get_account");
    let tiers: Vec<&str> = err
        .attempted_tiers
        .iter()
        .map(|t| t.tier.as_str())
        .collect();
    assert_eq!(tiers, ["tier1_mcp", "tier2_sdk", "tier3_rest"]);
    assert!(
        matches!(err.attempted_tiers[0].outcome, TierOutcome::Skipped(ref open) if open.circuit_name() == "tier1_mcp")
    );
    assert!(matches!(
        err.attempted_tiers[1].outcome,
        TierOutcome::Failed("sdk 503")
    ));
    assert!(matches!(
        err.attempted_tiers[2].outcome,
        TierOutcome::Failed("rest 500")
    ));
    assert_eq!(t1.calls(), 0);
    assert_eq!(
        err.to_string(),
        "all tiers failed for 'get_account': tier1_mcp skipped (circuit open); \
         tier2_sdk failed (sdk 503); tier3_rest failed (rest 500)"
    );
    let all = events.named("all_tiers_failed");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].field("tiers"), "3");
    assert_eq!(all[0].level, tracing::Level::ERROR);
}

#[tokio::test(start_paused = true)]
async fn tiers_can_name_their_breaker_or_go_unguarded() {
    let m = CircuitBreakerManager::new(); // nothing registered
    let own = CircuitBreaker::builder("own_breaker")
        .ignore_env()
        .build()
        .unwrap();
    own.force_open();
    let (a, b, c) = (
        Backend::new(Ok("a")),
        Backend::new(Err("b down")),
        Backend::new(Ok("c")),
    );
    let served = FallbackHandler::new(&m)
        .serve(
            [
                Tier::new("primary", a.get()).breaker(&own),
                Tier::new("secondary", b.get()),
                Tier::new("tier1_mcp", c.get()).unguarded(),
            ],
            "op",
        )
        .await
        .unwrap();
    assert_eq!(&*served.tier, "tier1_mcp");
    assert_eq!((a.calls(), b.calls(), c.calls()), (0, 1, 1));
}

#[tokio::test]
async fn the_default_handler_uses_the_global_registry() {
    resilience::registry()
        .register(CircuitBreaker::builder("fallback_global_t1").ignore_env())
        .unwrap()
        .force_open();
    let handler = FallbackHandler::default();
    let served = handler
        .serve(
            [
                Tier::new("fallback_global_t1", async { Ok::<_, String>(1) }),
                Tier::new("fallback_global_t2", async { Ok::<_, String>(2) }),
            ],
            "op",
        )
        .await
        .unwrap();
    assert_eq!(served.value, 2);
    let none: Vec<Tier<'_, u8, String>> = Vec::new();
    let err = handler.serve(none, "empty").await.unwrap_err();
    assert!(err.attempted_tiers.is_empty());
}
