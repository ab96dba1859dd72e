// A free `async fn` under #[circuit_breaker]: its future is `Send + 'static`, and it runs.
use resilience::circuit_breaker;

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

#[circuit_breaker(name = "tier1_mcp", failure_threshold = 5, recovery_timeout = "60s")]
pub async fn get_account(id: u32) -> Result<u32, ZohoError> {
    if id == 0 {
        return Err(ZohoError::Http(404));
    }
    Ok(id)
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(assert_send(get_account(7)).await.unwrap(), 7);
    assert!(matches!(get_account(0).await, Err(ZohoError::Http(404))));
    let spawned = tokio::spawn(get_account(3));
    assert_eq!(spawned.await.unwrap().unwrap(), 3);
}
