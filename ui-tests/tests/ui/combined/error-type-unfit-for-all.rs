// An error type with neither `From<resilience::Error>`, `Display` nor `Error`, under all three.
use resilience::{circuit_breaker, fallback, retry};

#[derive(Debug)]
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
