// #[fallback] returns "all tiers failed" as the function's error, which cannot hold it.
use resilience::fallback;

#[derive(Debug, thiserror::Error)]
#[error("HTTP {0}")]
struct HttpError(u16);

#[fallback(get_account_sdk)]
async fn get_account(id: u32) -> Result<u32, HttpError> {
    Err(HttpError(500 + id as u16))
}

async fn get_account_sdk(id: u32) -> Result<u32, HttpError> {
    Ok(id)
}

fn main() {}
