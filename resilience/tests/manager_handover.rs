//! The global registry and a manager of one's own are handed to `FallbackHandler` and to the
//! health monitor the same way.

use std::sync::Arc;

use resilience::health::HealthMonitor;
use resilience::{CircuitBreaker, CircuitBreakerManager, CircuitState, FallbackHandler, Tier};

async fn served_by(handler: &FallbackHandler<'_>) -> String {
    handler
        .serve(
            [
                Tier::new("handover_tier1", async { Ok::<_, String>(1) }),
                Tier::new("handover_tier2", async { Ok::<_, String>(2) }),
            ],
            "handover",
        )
        .await
        .unwrap()
        .tier
        .into_owned()
}

#[tokio::test]
async fn the_global_registry_and_an_own_manager_go_to_both_the_same_way() {
    let own = Arc::new(CircuitBreakerManager::new());
    for manager in [resilience::registry(), &*own] {
        manager
            .register(CircuitBreaker::builder("handover_tier1").ignore_env())
            .unwrap();
    }
    resilience::registry()
        .get("handover_tier1")
        .unwrap()
        .force_open();

    // FallbackHandler: the global registry, an `Arc` of one's own, or a borrowed one.
    assert_eq!(
        served_by(&FallbackHandler::new(resilience::registry())).await,
        "handover_tier2"
    );
    assert_eq!(
        served_by(&FallbackHandler::new(Arc::clone(&own))).await,
        "handover_tier1"
    );
    assert_eq!(
        served_by(&FallbackHandler::new(&own)).await,
        "handover_tier1"
    );
    let local = CircuitBreakerManager::new();
    assert_eq!(
        served_by(&FallbackHandler::new(&local)).await,
        "handover_tier1"
    );

    // HealthMonitor: the same two forms.
    let state_seen_through = |monitor: HealthMonitor| async move {
        monitor.check_all().await.tiers["handover_tier1"].breaker_state
    };
    let check = || async { Ok::<(), String>(()) };
    let global = HealthMonitor::builder()
        .tier("handover_tier1", check)
        .manager(resilience::registry())
        .build()
        .unwrap();
    assert_eq!(
        state_seen_through(global).await,
        Some(CircuitState::ForcedOpen)
    );
    let mine = HealthMonitor::builder()
        .tier("handover_tier1", check)
        .manager(Arc::clone(&own))
        .build()
        .unwrap();
    assert_eq!(state_seen_through(mine).await, Some(CircuitState::Closed));
}
