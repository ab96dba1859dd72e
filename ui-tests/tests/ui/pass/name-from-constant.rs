// A breaker named by a `&str` constant, shared with the runtime API: a plain path or a module
// path.
use resilience::circuit_breaker;

const TIER1: &str = "tier1_mcp";

mod names {
    pub const TIER2: &str = "tier2_sdk";
}

#[circuit_breaker(name = TIER1, failure_threshold = 3)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

#[circuit_breaker(name = names::TIER2)]
async fn get_account_sdk(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Known to the registry before the first call, under the constant's value.
    let tier1 = resilience::registry().get(TIER1).expect("registered from the start");
    assert_eq!(tier1.config().failure_threshold, 3);
    assert_eq!(get_account(1).await.unwrap(), 1);
    assert_eq!(get_account_sdk(2).await.unwrap(), 2);
    assert!(resilience::registry().get(names::TIER2).is_some());
}
