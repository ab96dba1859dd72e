// `async fn` in a trait impl, under #[retry] and #[circuit_breaker], with a trait method as tier.
use resilience::{circuit_breaker, fallback, retry};

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

trait AccountSource {
    async fn fetch(&self, id: u32) -> Result<u32, ZohoError>;
    async fn fetch_backup(&self, id: u32) -> Result<u32, ZohoError>;
}

struct Source;

impl AccountSource for Source {
    #[fallback(fetch_backup)]
    #[retry(max_attempts = 2, base_delay = "1ms")]
    #[circuit_breaker(name = "trait_source")]
    async fn fetch(&self, id: u32) -> Result<u32, ZohoError> {
        if id == 0 { Err(ZohoError::Http(503)) } else { Ok(id) }
    }

    async fn fetch_backup(&self, id: u32) -> Result<u32, ZohoError> {
        Ok(id + 100)
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(assert_send(Source.fetch(7)).await.unwrap(), 7);
    assert_eq!(Source.fetch(0).await.unwrap(), 100);
}
