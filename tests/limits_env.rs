//! A bulkhead written in an attribute gives way to its environment variable, as a breaker's
//! settings do.
//!
//! The one test here sets a process variable before the registry is first used; no other test
//! of this binary reads the process environment.

use resilience::{Error, bulkhead};
use tokio::sync::Semaphore;

static GATE: Semaphore = Semaphore::const_new(0);

#[bulkhead(name = "limits_env_org", max_concurrent = 15)]
async fn org_call(id: u32) -> Result<u32, Error> {
    GATE.acquire().await.expect("open").forget();
    Ok(id)
}

#[tokio::test(start_paused = true)]
async fn the_variable_of_an_attributes_bulkhead_beats_the_written_value() {
    // SAFETY: the only test of this binary, before anything reads the environment.
    unsafe { std::env::set_var("BULKHEAD_LIMITS_ENV_ORG_MAX_CONCURRENT", "2") };
    let org = resilience::registry()
        .bulkhead("limits_env_org")
        .expect("registered");
    assert_eq!(org.config().max_concurrent, 2);
    let a = tokio::spawn(org_call(1));
    let b = tokio::spawn(org_call(2));
    tokio::task::yield_now().await;
    assert_eq!(org.metrics().in_flight, 2);
    let third = tokio::time::timeout(std::time::Duration::from_secs(60), org_call(3));
    assert!(matches!(third.await, Ok(Err(Error::BulkheadFull(_)))));
    GATE.add_permits(2);
    assert_eq!(
        (a.await.unwrap().unwrap(), b.await.unwrap().unwrap()),
        (1, 2)
    );
}
