// #[circuit_breaker] and #[retry] without arguments take every default.
use resilience::{circuit_breaker, retry};

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ZohoError(#[from] resilience::Error);

#[retry]
#[circuit_breaker]
async fn get_account(id: u32) -> Result<u32, ZohoError> {
    Ok(id)
}

#[circuit_breaker()]
#[retry()]
async fn list_deals(id: u32) -> Result<Vec<u32>, ZohoError> {
    Ok(vec![id])
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(get_account(1).await.unwrap(), 1);
    assert_eq!(list_deals(2).await.unwrap(), [2]);
    // Named after the module and the function.
    let name = concat!(module_path!(), "::get_account");
    assert!(resilience::registry().get(name).is_some());
}
