// The attributes by path, without a `use`: `resilience::retry` and `::resilience::circuit_breaker`.
#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

#[resilience::fallback(get_account_rest)]
#[resilience::retry(max_attempts = 2, base_delay = "1ms")]
#[::resilience::circuit_breaker(name = "tier1_mcp")]
async fn get_account(id: u32) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(500 + id as u16))
}

#[::resilience::retry]
async fn get_account_rest(id: u32) -> Result<u32, ZohoError> {
    Ok(id)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(get_account(7).await.unwrap(), 7);
    let breaker = resilience::registry().get("tier1_mcp").unwrap();
    assert_eq!(breaker.metrics().failure_count, 2);
}
