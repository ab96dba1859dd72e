// `#[retry(retry_after = path)]` with a method's path, alone and beside `retry_if` and a breaker.
#![deny(warnings)]
use std::time::Duration;

use resilience::{circuit_breaker, retry};

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("HTTP 429, retry after {0} ms")]
    TooManyRequests(u64),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

impl ApiError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::TooManyRequests(ms) => Some(Duration::from_millis(*ms)),
            ApiError::Resilience(_) => None,
        }
    }
}

fn is_transient(_: &ApiError) -> bool {
    true
}

#[retry(max_attempts = 2, base_delay = "1ms", retry_after = ApiError::retry_after)]
async fn plain(id: u32) -> Result<u32, ApiError> {
    Ok(id)
}

#[retry(base_delay = "1ms", retry_if = is_transient, retry_after = ApiError::retry_after)]
#[circuit_breaker(name = "pass_retry_after")]
async fn guarded(id: u32) -> Result<u32, ApiError> {
    if id == 0 {
        return Err(ApiError::TooManyRequests(1));
    }
    Ok(id)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(plain(1).await.unwrap(), 1);
    assert_eq!(guarded(2).await.unwrap(), 2);
    assert!(matches!(guarded(0).await, Err(ApiError::TooManyRequests(1))));
}
