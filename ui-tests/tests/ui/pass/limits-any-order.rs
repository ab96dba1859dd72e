// All six attributes on one function, in several orders, and under renamed imports: one
// pipeline, `fallback(retry(circuit_breaker(rate_limit(bulkhead(timeout(body))))))`.
#![deny(warnings)]
use resilience::{bulkhead, circuit_breaker, fallback, rate_limit, retry, timeout};
use resilience::timeout as time_limit;

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

#[timeout("5s")]
#[rate_limit(name = "pass_order_credits", rate = 100, per = "1s", burst = 100, cost = 2)]
#[fallback(backup)]
#[bulkhead(name = "pass_order_org", max_concurrent = 15, max_wait = "2s")]
#[retry(max_attempts = 2, base_delay = "1ms")]
#[circuit_breaker(name = "pass_order_mcp")]
async fn first_order(id: u32) -> Result<u32, ZohoError> {
    if id == 0 {
        return Err(ZohoError::Http(503));
    }
    Ok(id)
}

#[circuit_breaker(name = "pass_order_mcp")]
#[retry(max_attempts = 2, base_delay = "1ms")]
#[bulkhead(name = "pass_order_org", max_concurrent = 15, max_wait = "2s")]
#[fallback(backup)]
#[rate_limit(name = "pass_order_credits", rate = 100, per = "1s", burst = 100, cost = 2)]
#[time_limit("5s")]
async fn second_order(id: u32) -> Result<u32, ZohoError> {
    if id == 0 {
        return Err(ZohoError::Http(503));
    }
    Ok(id)
}

async fn backup(id: u32) -> Result<u32, ZohoError> {
    Ok(id + 100)
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(assert_send(first_order(1)).await.unwrap(), 1);
    assert_eq!(second_order(2).await.unwrap(), 2);
    assert_eq!(first_order(0).await.unwrap(), 100);
    assert_eq!(second_order(0).await.unwrap(), 100);
    let spawned = tokio::spawn(first_order(3));
    assert_eq!(spawned.await.unwrap().unwrap(), 3);
}
