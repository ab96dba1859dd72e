// `self: &Self` and `self: Arc<Self>` receivers under all three attributes.
#![deny(warnings)]
use std::sync::Arc;

use resilience::{circuit_breaker, fallback, retry};

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

struct Service {
    up: bool,
}

impl Service {
    #[fallback(by_ref_backup)]
    #[retry(max_attempts = 2, base_delay = "1ms")]
    #[circuit_breaker(name = "self_ref_typed")]
    async fn by_ref(self: &Self, id: u32) -> Result<u32, ApiError> {
        if self.up { Ok(id) } else { Err(ApiError::Http(503)) }
    }

    async fn by_ref_backup(self: &Self, id: u32) -> Result<u32, ApiError> {
        Ok(id + 100)
    }

    #[fallback(shared_backup, shared_last)]
    #[retry(max_attempts = 2, base_delay = "1ms")]
    #[circuit_breaker(name = "self_arc")]
    async fn shared(self: Arc<Self>, id: u32) -> Result<u32, ApiError> {
        if self.up { Ok(id) } else { Err(ApiError::Http(503)) }
    }

    async fn shared_backup(self: Arc<Self>, _id: u32) -> Result<u32, ApiError> {
        Err(ApiError::Http(502))
    }

    async fn shared_last(self: Arc<Self>, id: u32) -> Result<u32, ApiError> {
        Ok(id + 200)
    }
}

fn assert_send<T: Send + 'static>(t: T) -> T {
    t
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(Service { up: false }.by_ref(1).await.unwrap(), 101);
    let service = Arc::new(Service { up: false });
    assert_eq!(assert_send(Arc::clone(&service).shared(1)).await.unwrap(), 201);
}
