//! The attributes compose as `fallback(retry(circuit_breaker(body)))` however they are named,
//! and the body keeps the control flow it has without them.

use std::sync::atomic::{AtomicU32, Ordering};

use resilience::CircuitState;

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

mod through_a_crate_alias {
    use super::*;
    use resilience as res;

    pub static CALLS: AtomicU32 = AtomicU32::new(0);

    // Retry written above the breaker: each attempt still passes through the breaker.
    #[res::retry(max_attempts = 3, base_delay = "1ms", jitter = false)]
    #[res::circuit_breaker(name = "composition_alias", failure_threshold = 3)]
    pub async fn down() -> Result<u32, ApiError> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Err(ApiError::Http(503))
    }
}

#[tokio::test(start_paused = true)]
async fn a_crate_alias_keeps_every_attempt_inside_the_breaker() {
    assert!(matches!(
        through_a_crate_alias::down().await,
        Err(ApiError::Http(503))
    ));
    assert_eq!(through_a_crate_alias::CALLS.load(Ordering::SeqCst), 3);
    let breaker = resilience::registry()
        .get("composition_alias")
        .expect("registered on first call");
    // Three attempts, three failures counted: the threshold is reached.
    assert_eq!(breaker.state(), CircuitState::Open);
}

mod through_renamed_attributes {
    use super::*;
    use resilience::fallback;
    use resilience::retry as with_retry;

    pub static PRIMARY: AtomicU32 = AtomicU32::new(0);
    pub static BACKUP: AtomicU32 = AtomicU32::new(0);

    async fn backup(_id: u32) -> Result<u32, ApiError> {
        BACKUP.fetch_add(1, Ordering::SeqCst);
        Err(ApiError::Http(502))
    }

    #[fallback(backup)]
    #[with_retry(max_attempts = 3, base_delay = "1ms", jitter = false)]
    pub async fn fetch(_id: u32) -> Result<u32, ApiError> {
        PRIMARY.fetch_add(1, Ordering::SeqCst);
        Err(ApiError::Http(503))
    }
}

#[tokio::test(start_paused = true)]
async fn a_renamed_retry_under_fallback_retries_the_function_not_the_fallback() {
    assert!(through_renamed_attributes::fetch(1).await.is_err());
    assert_eq!(
        through_renamed_attributes::PRIMARY.load(Ordering::SeqCst),
        3
    );
    assert_eq!(through_renamed_attributes::BACKUP.load(Ordering::SeqCst), 1);
}
