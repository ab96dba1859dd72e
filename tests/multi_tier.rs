//! The guide's multi-tier configuration with the runtime API: three tiers, each behind its own
//! breaker in a manager; when tier 1 fails its breaker opens and calls go to tier 2 without
//! touching tier 1, until it recovers.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use resilience::{CallError, CircuitBreaker, CircuitBreakerManager, CircuitState};
use tokio::time::advance;

struct Tier {
    name: &'static str,
    up: AtomicBool,
    calls: AtomicU32,
}

impl Tier {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            up: AtomicBool::new(true),
            calls: AtomicU32::new(0),
        }
    }

    async fn get_account(&self, id: &str) -> Result<String, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.up.load(Ordering::SeqCst) {
            Ok(format!("{id} from {}", self.name))
        } else {
            Err(format!("{} unavailable", self.name))
        }
    }
}

/// Tries each tier through its breaker, in order; the first answer wins.
async fn get_account(manager: &CircuitBreakerManager, tiers: &[Tier], id: &str) -> Option<String> {
    for tier in tiers {
        let breaker = manager.get(tier.name).expect("registered");
        match breaker.call(|| tier.get_account(id)).await {
            Ok(account) => return Some(account),
            Err(CallError::Rejected(_) | CallError::Failed(_)) => continue,
        }
    }
    None
}

#[tokio::test(start_paused = true)]
async fn a_failing_tier_is_left_alone_until_it_recovers() {
    let manager = CircuitBreakerManager::new();
    for name in ["tier1_mcp", "tier2_sdk", "tier3_rest"] {
        manager
            .register(
                CircuitBreaker::builder(name)
                    .failure_threshold(5)
                    .recovery_timeout(Duration::from_secs(60))
                    .ignore_env(),
            )
            .unwrap();
    }
    let tiers = [
        Tier::new("tier1_mcp"),
        Tier::new("tier2_sdk"),
        Tier::new("tier3_rest"),
    ];

    let served = get_account(&manager, &tiers, "42").await;
    assert_eq!(served.as_deref(), Some("42 from tier1_mcp"));

    tiers[0].up.store(false, Ordering::SeqCst);
    for _ in 0..5 {
        let served = get_account(&manager, &tiers, "42").await;
        assert_eq!(served.as_deref(), Some("42 from tier2_sdk"));
    }
    assert_eq!(manager.all_states()["tier1_mcp"], CircuitState::Open);
    let tier1_calls = tiers[0].calls.load(Ordering::SeqCst);
    for _ in 0..20 {
        get_account(&manager, &tiers, "42").await;
    }
    assert_eq!(
        tiers[0].calls.load(Ordering::SeqCst),
        tier1_calls,
        "an open tier is not called"
    );

    tiers[0].up.store(true, Ordering::SeqCst);
    advance(Duration::from_secs(60)).await;
    for _ in 0..2 {
        let served = get_account(&manager, &tiers, "42").await;
        assert_eq!(served.as_deref(), Some("42 from tier1_mcp"));
    }
    assert_eq!(manager.all_states()["tier1_mcp"], CircuitState::Closed);
    assert_eq!(
        tiers[2].calls.load(Ordering::SeqCst),
        0,
        "tier 3 was never needed"
    );
}
