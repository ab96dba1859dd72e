//! Every breaker written in an attribute is in the registry from the start of the program,
//! whatever is called first; names may come from constants; `init()` reports two attributes
//! that give one name different settings.
//!
//! The only test binary with such a conflict: `init()` fails here, by design.

use std::time::Duration;

use resilience::{CircuitBreaker, circuit_breaker};

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

/// One name shared by the attribute, the runtime API and the health monitor.
const TIER1: &str = "registry_tier1";

mod names {
    pub const TIER2: &str = "registry_tier2";
}

#[circuit_breaker(name = TIER1, failure_threshold = 3, recovery_timeout = "30s")]
async fn tier1(fail: bool) -> Result<u32, ZohoError> {
    if fail {
        Err(ZohoError::Http(503))
    } else {
        Ok(1)
    }
}

#[circuit_breaker(name = names::TIER2, failure_threshold = 2)]
async fn tier2() -> Result<u32, ZohoError> {
    Ok(2)
}

/// Looked up by name (as `CircuitBreakerLayer::named` does) before any call of this function.
#[circuit_breaker(
    name = "registry_layer",
    failure_threshold = 7,
    recovery_timeout = "5s"
)]
async fn behind_a_layer() -> Result<u32, ZohoError> {
    Ok(3)
}

/// Never called: its breaker is in the registry all the same.
#[allow(dead_code)]
#[circuit_breaker(name = "registry_never_called", failure_threshold = 9)]
async fn never_called() -> Result<u32, ZohoError> {
    Ok(0)
}

const FIRST_PLACE: u32 = line!() + 1;
#[circuit_breaker(name = "registry_conflict", failure_threshold = 3)]
async fn conflict_a() -> Result<u32, ZohoError> {
    Ok(4)
}

const SECOND_PLACE: u32 = line!() + 1;
#[circuit_breaker(name = "registry_conflict", failure_threshold = 4)]
async fn conflict_b() -> Result<u32, ZohoError> {
    Ok(5)
}

#[test]
fn every_attribute_breaker_is_registered_before_its_first_call() {
    let names = resilience::registry().names();
    for name in [
        TIER1,
        names::TIER2,
        "registry_layer",
        "registry_conflict",
        "registry_never_called",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    let states = resilience::registry().all_states();
    assert!(states.contains_key("registry_never_called"));
    let never = resilience::registry().get("registry_never_called").unwrap();
    assert_eq!(never.config().failure_threshold, 9);
    let tier1 = resilience::registry().get(TIER1).unwrap();
    assert_eq!(tier1.config().failure_threshold, 3);
    assert_eq!(tier1.config().recovery_timeout, Duration::from_secs(30));
}

#[test]
fn a_breaker_looked_up_by_name_first_gets_the_attributes_settings() {
    // What `CircuitBreakerLayer::named("registry_layer")` does before the function ever ran.
    let breaker = resilience::registry()
        .get_or_register("registry_layer")
        .unwrap();
    assert_eq!(breaker.config().failure_threshold, 7);
    assert_eq!(breaker.config().recovery_timeout, Duration::from_secs(5));
    // A builder with other settings for the same name gets the attribute's breaker too.
    let again = resilience::registry()
        .register(CircuitBreaker::builder("registry_layer").failure_threshold(1))
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&breaker, &again));
}

#[tokio::test(start_paused = true)]
async fn the_function_uses_the_registered_breaker() {
    let breaker = resilience::registry().get(TIER1).unwrap();
    for _ in 0..3 {
        assert!(tier1(true).await.is_err());
    }
    assert!(breaker.state().is_open());
    assert!(matches!(
        tier1(false).await,
        Err(ZohoError::Resilience(resilience::Error::CircuitOpen(_)))
    ));
    assert_eq!(tier2().await.unwrap(), 2);
    assert_eq!(behind_a_layer().await.unwrap(), 3);
    assert_eq!(conflict_a().await.unwrap(), 4);
    assert_eq!(conflict_b().await.unwrap(), 5);
    // The two sites share one breaker: the one whose site comes first in the file.
    let shared = resilience::registry().get("registry_conflict").unwrap();
    assert_eq!(shared.config().failure_threshold, 3);
}

#[test]
fn init_names_both_places_that_give_one_name_different_settings() {
    let error = resilience::init()
        .expect_err("two settings for one name")
        .to_string();
    let first = format!("tests/registry.rs:{FIRST_PLACE}");
    let second = format!("tests/registry.rs:{SECOND_PLACE}");
    assert!(error.contains("registry_conflict"), "{error}");
    assert!(error.contains(&first), "{error}");
    assert!(error.contains(&second), "{error}");
}

#[tokio::test(start_paused = true)]
async fn the_health_monitor_sees_an_attribute_breaker_before_its_first_call() {
    let monitor = resilience::HealthMonitor::builder()
        .tier(names::TIER2, || async { Ok::<_, std::io::Error>(()) })
        .build()
        .unwrap();
    let status = monitor.check_all().await;
    assert_eq!(
        status.tiers[names::TIER2].breaker_state,
        Some(resilience::CircuitState::Closed)
    );
}
