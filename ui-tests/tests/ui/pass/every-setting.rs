// Every key, with each form of duration: "500ms", "1m 30s", "2h", "60", 60 and 1.5 seconds.
use resilience::{circuit_breaker, retry};

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ZohoError(#[from] resilience::Error);

fn always(_: &ZohoError) -> bool {
    true
}

#[retry(
    max_attempts = 5,
    base_delay = "500ms",
    max_delay = 1.5,
    exponential_base = 3,
    jitter = true,
    budget = "1m 30s",
    retry_if = always,
)]
#[circuit_breaker(
    name = "every_setting",
    failure_threshold = 1_000_000,
    recovery_timeout = "2h",
    half_open_max_calls = 10000,
    success_threshold = 10000,
    window_size = 10_000,
    minimum_calls = 10_000,
    failure_rate_threshold = 1.0,
    failure_if = always,
)]
async fn get_account(id: u32) -> Result<u32, ZohoError> {
    Ok(id)
}

#[retry(base_delay = 0, max_delay = "60")]
#[circuit_breaker(recovery_timeout = 60)]
async fn defaults_elsewhere(id: u32) -> Result<u32, ZohoError> {
    Ok(id)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(get_account(1).await.unwrap(), 1);
    assert_eq!(defaults_elsewhere(2).await.unwrap(), 2);
    let name = concat!(module_path!(), "::defaults_elsewhere");
    assert!(resilience::registry().get(name).is_some(), "named after the fn");
}
