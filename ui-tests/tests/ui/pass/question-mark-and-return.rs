// `?` and an early `return` in the body keep their meaning: they end one run, not the function.
use resilience::{circuit_breaker, retry};

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("bad id: {0}")]
    BadId(#[from] std::num::ParseIntError),
    #[error("account {0} is archived")]
    Archived(u32),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

impl ZohoError {
    fn is_transient(&self) -> bool {
        false
    }
}

#[retry(max_attempts = 3, base_delay = "1ms", retry_if = ZohoError::is_transient)]
#[circuit_breaker(name = "tier1_mcp")]
async fn get_account(id: &str) -> Result<u32, ZohoError> {
    let id: u32 = id.parse()?;
    if id == 0 {
        return Err(ZohoError::Archived(id));
    }
    Ok(id)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(get_account("42").await.unwrap(), 42);
    assert!(matches!(get_account("x").await, Err(ZohoError::BadId(_))));
    assert!(matches!(get_account("0").await, Err(ZohoError::Archived(0))));
}
