// A loggable error without `From<resilience::Error>` under all three attributes: one error.
use resilience::{circuit_breaker, fallback, retry};

#[derive(Debug, thiserror::Error)]
#[error("HTTP {0}")]
struct HttpError(u16);

#[fallback(get_account_sdk)]
#[retry(max_attempts = 3)]
#[circuit_breaker(name = "tier1_mcp")]
async fn get_account(id: u32) -> Result<u32, HttpError> {
    Err(HttpError(500 + id as u16))
}

async fn get_account_sdk(id: u32) -> Result<u32, HttpError> {
    Ok(id)
}

fn main() {}
