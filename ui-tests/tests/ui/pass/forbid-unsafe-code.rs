// A crate that forbids unsafe code can use the attributes: the breaker's registration at link
// time is no unsafe code of the user's.
#![forbid(unsafe_code)]

use resilience::{circuit_breaker, retry};

#[retry(max_attempts = 2)]
#[circuit_breaker(name = "tier1_mcp")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert!(resilience::registry().get("tier1_mcp").is_some());
    assert_eq!(get_account(1).await.unwrap(), 1);
}
