// #[circuit_breaker] returns its rejection as the function's error, which cannot hold it.
use resilience::circuit_breaker;

#[derive(Debug, thiserror::Error)]
#[error("HTTP {0}")]
struct HttpError(u16);

#[circuit_breaker(name = "tier1_mcp")]
async fn get_account(id: u32) -> Result<u32, HttpError> {
    Err(HttpError(500 + id as u16))
}

fn main() {}
