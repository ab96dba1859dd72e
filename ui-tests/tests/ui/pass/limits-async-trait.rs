// Limits on the methods of `#[async_trait]` impls, alone and with the other attributes.
#![deny(warnings)]
use async_trait::async_trait;
use resilience::{bulkhead, circuit_breaker, fallback, rate_limit, retry, timeout};

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

#[async_trait]
trait Source {
    async fn fetch(&self, id: u32) -> Result<u32, ApiError>;
    async fn count(&self) -> Result<u32, ApiError>;
}

struct Remote;

impl Remote {
    async fn fetch_backup(&self, id: u32) -> Result<u32, ApiError> {
        Ok(id + 100)
    }
}

#[async_trait]
impl Source for Remote {
    #[fallback(fetch_backup)]
    #[retry(max_attempts = 2, base_delay = "1ms")]
    #[circuit_breaker(name = "pass_async_trait_limits")]
    #[rate_limit(name = "pass_async_trait_credits", rate = 100, per = "1s")]
    #[bulkhead(name = "pass_async_trait_org", max_concurrent = 2)]
    #[timeout("1s")]
    async fn fetch(&self, id: u32) -> Result<u32, ApiError> {
        Err(ApiError::Http(500 + id as u16))
    }

    #[bulkhead(name = "pass_async_trait_org", max_concurrent = 2)]
    async fn count(&self) -> Result<u32, ApiError> {
        Ok(7)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let remote: Box<dyn Source + Send + Sync> = Box::new(Remote);
    assert_eq!(remote.fetch(1).await.unwrap(), 101);
    assert_eq!(remote.count().await.unwrap(), 7);
    let spawned = tokio::spawn(async move { remote.count().await });
    assert_eq!(spawned.await.unwrap().unwrap(), 7);
}
