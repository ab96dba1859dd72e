//! The attributes on the methods of an `#[async_trait]` impl: retried, guarded and falling back
//! like any `async fn`, called through a trait object.

use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use resilience::{CircuitState, circuit_breaker, fallback, retry};

#[derive(Debug, thiserror::Error)]
enum CrmError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

#[async_trait]
trait Crm: Send + Sync {
    async fn account(&self, id: String) -> Result<String, CrmError>;
    async fn bump(&mut self, by: u32) -> Result<u32, CrmError>;
}

#[derive(Default)]
struct Zoho {
    calls: AtomicU32,
    failing: AtomicU32,
    total: u32,
}

impl Zoho {
    async fn account_backup(&self, id: String) -> Result<String, CrmError> {
        Ok(format!("{id} via backup"))
    }
}

#[async_trait]
impl Crm for Zoho {
    #[fallback(account_backup)]
    #[retry(max_attempts = 3, base_delay = "1s", jitter = false)]
    #[circuit_breaker(name = "async_trait_account", failure_threshold = 3)]
    async fn account(&self, id: String) -> Result<String, CrmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) > 0 {
            self.failing.fetch_sub(1, Ordering::SeqCst);
            return Err(CrmError::Http(503));
        }
        Ok(format!("{id} via primary"))
    }

    #[retry(max_attempts = 2, base_delay = "1s", jitter = false)]
    async fn bump(&mut self, by: u32) -> Result<u32, CrmError> {
        self.total += by;
        if self.total < 2 * by {
            Err(CrmError::Http(500))
        } else {
            Ok(self.total)
        }
    }
}

#[tokio::test(start_paused = true)]
async fn async_trait_methods_retry_open_and_fall_back() {
    let mut zoho = Zoho::default();
    {
        let crm: &dyn Crm = &zoho;
        assert_eq!(crm.account("1".into()).await.unwrap(), "1 via primary");
        // Two failures, then served on the third attempt.
        zoho.failing.store(2, Ordering::SeqCst);
        let crm: &dyn Crm = &zoho;
        assert_eq!(crm.account("2".into()).await.unwrap(), "2 via primary");
        assert_eq!(zoho.calls.load(Ordering::SeqCst), 4);
        // An outage: three attempts, each counted by the breaker, which opens; the backup serves.
        zoho.failing.store(u32::MAX, Ordering::SeqCst);
        let crm: &dyn Crm = &zoho;
        assert_eq!(crm.account("3".into()).await.unwrap(), "3 via backup");
        assert_eq!(zoho.calls.load(Ordering::SeqCst), 7);
    }
    let breaker = resilience::registry()
        .get("async_trait_account")
        .expect("registered on first call");
    assert_eq!(breaker.state(), CircuitState::Open);

    // `&mut self`: the second attempt sees the first one's write.
    let crm: &mut dyn Crm = &mut zoho;
    assert_eq!(crm.bump(5).await.unwrap(), 10);
}
