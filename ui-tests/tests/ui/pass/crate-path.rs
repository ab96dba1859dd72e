// `crate = ".."`: the attributes used through a facade that re-exports the runtime.
#![deny(warnings)]
mod facade {
    pub use resilience as inner;
}

use facade::inner::{circuit_breaker, fallback, retry};

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] facade::inner::Error),
}

async fn backup(id: u32) -> Result<u32, ApiError> {
    Ok(id + 100)
}

#[fallback(backup, crate = "crate::facade::inner")]
#[retry(max_attempts = 2, base_delay = "1ms")]
#[circuit_breaker(name = "crate_path", crate = "crate::facade::inner")]
async fn get_account(id: u32) -> Result<u32, ApiError> {
    Err(ApiError::Http(500 + id as u16))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(get_account(1).await.unwrap(), 101);
}
