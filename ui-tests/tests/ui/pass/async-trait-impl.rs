// Methods of `#[async_trait]` impls under the attributes, `Send` and `?Send`.
#![deny(warnings)]
use std::rc::Rc;

use async_trait::async_trait;
use resilience::{circuit_breaker, fallback, retry};

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

#[async_trait]
trait Source {
    async fn fetch(&self, id: u32, _: &str) -> Result<u32, ApiError>;
}

struct Remote;

impl Remote {
    async fn fetch_backup(&self, id: u32, _: &str) -> Result<u32, ApiError> {
        Ok(id + 100)
    }
}

#[async_trait]
impl Source for Remote {
    #[fallback(fetch_backup)]
    #[retry(max_attempts = 2, base_delay = "1ms")]
    #[circuit_breaker(name = "async_trait_pass")]
    async fn fetch(&self, id: u32, _: &str) -> Result<u32, ApiError> {
        Err(ApiError::Http(500 + id as u16))
    }
}

#[async_trait(?Send)]
trait Local {
    async fn read(&self, id: u32) -> Result<u32, ApiError>;
}

struct Shared(Rc<u32>);

#[async_trait(?Send)]
impl Local for Shared {
    #[retry(max_attempts = 2, base_delay = "1ms")]
    async fn read(&self, id: u32) -> Result<u32, ApiError> {
        Ok(id + *self.0)
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let source: Box<dyn Source + Send + Sync> = Box::new(Remote);
    assert_eq!(assert_send(source.fetch(1, "x")).await.unwrap(), 101);
    assert_eq!(Shared(Rc::new(1)).read(1).await.unwrap(), 2);
}
