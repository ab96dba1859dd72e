// The three attributes compose the same way, fallback(retry(circuit_breaker(body))), in any order.
use resilience::{circuit_breaker, fallback, retry};

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

async fn backup(id: u32) -> Result<u32, ZohoError> {
    Ok(id + 100)
}

#[fallback(backup)]
#[retry(max_attempts = 2, base_delay = "1ms")]
#[circuit_breaker(name = "frc")]
async fn frc(id: u32) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(500 + id as u16))
}

#[fallback(backup)]
#[circuit_breaker(name = "fcr")]
#[retry(max_attempts = 2, base_delay = "1ms")]
async fn fcr(id: u32) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(500 + id as u16))
}

#[retry(max_attempts = 2, base_delay = "1ms")]
#[fallback(backup)]
#[circuit_breaker(name = "rfc")]
async fn rfc(id: u32) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(500 + id as u16))
}

#[retry(max_attempts = 2, base_delay = "1ms")]
#[circuit_breaker(name = "rcf")]
#[fallback(backup)]
async fn rcf(id: u32) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(500 + id as u16))
}

#[circuit_breaker(name = "cfr")]
#[fallback(backup)]
#[retry(max_attempts = 2, base_delay = "1ms")]
async fn cfr(id: u32) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(500 + id as u16))
}

#[circuit_breaker(name = "crf")]
#[retry(max_attempts = 2, base_delay = "1ms")]
#[fallback(backup)]
async fn crf(id: u32) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(500 + id as u16))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let served = [frc(1).await, fcr(1).await, rfc(1).await, rcf(1).await, cfr(1).await, crf(1).await];
    for (name, result) in ["frc", "fcr", "rfc", "rcf", "cfr", "crf"].into_iter().zip(served) {
        assert_eq!(result.unwrap(), 101, "{name}: served by the fallback");
        let breaker = resilience::registry().get(name).unwrap();
        assert_eq!(breaker.metrics().failure_count, 2, "{name}: both attempts went through the breaker");
    }
}
