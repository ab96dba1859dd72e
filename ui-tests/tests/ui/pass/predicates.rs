// failure_if and retry_if as a method path, a free function, a path into a module and a generic fn.
use resilience::{circuit_breaker, retry};

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

impl ZohoError {
    fn is_outage(&self) -> bool {
        matches!(self, ZohoError::Http(500..))
    }
}

fn is_not_found(e: &ZohoError) -> bool {
    matches!(e, ZohoError::Http(404))
}

mod rules {
    pub fn any_error<E>(_: &E) -> bool {
        true
    }
}

#[retry(max_attempts = 3, base_delay = "1ms", retry_if = ZohoError::is_outage)]
#[circuit_breaker(name = "by_method", failure_if = rules::any_error)]
async fn by_method(code: u16) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(code))
}

#[retry(max_attempts = 3, base_delay = "1ms", retry_if = crate::rules::any_error::<ZohoError>)]
#[circuit_breaker(name = "by_fn", failure_if = is_not_found)]
async fn by_fn(code: u16) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(code))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert!(by_method(404).await.is_err());
    let breaker = resilience::registry().get("by_method").unwrap();
    assert_eq!(breaker.metrics().failure_count, 1, "404 is not retried");
    assert!(by_fn(503).await.is_err());
    let breaker = resilience::registry().get("by_fn").unwrap();
    assert_eq!(breaker.metrics().failure_count, 0, "503 is not a failure of `by_fn`'s breaker");
}
