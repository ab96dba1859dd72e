// `#[cfg]` and lint attributes on arguments, and `_` arguments, under all three attributes.
#![deny(warnings)]
use resilience::{circuit_breaker, fallback, retry};

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

async fn backup(
    #[cfg(any())] never: String,
    id: u32,
    _: String,
    #[allow(unused_variables)] unused: String,
) -> Result<u32, ApiError> {
    Ok(id + 100)
}

#[fallback(backup)]
#[retry(max_attempts = 2, base_delay = "1ms")]
#[circuit_breaker(name = "argument_attributes")]
async fn get_account(
    #[cfg(any())] never: String,
    id: u32,
    _: String,
    #[allow(unused_variables)] unused: String,
) -> Result<u32, ApiError> {
    Err(ApiError::Http(500 + id as u16))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(get_account(1, String::new(), String::new()).await.unwrap(), 101);
}
