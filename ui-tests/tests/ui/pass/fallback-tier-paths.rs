// Fallback tiers as `tier2`, `crate::module::tier3` (free fns), and `tier2`, `Self::tier3` (methods).
use resilience::fallback;

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

mod zoho {
    pub async fn tier3(id: u32) -> Result<String, super::ZohoError> {
        Ok(format!("{id} via REST"))
    }
}

#[fallback(tier2, crate::zoho::tier3)]
async fn get_account(id: u32) -> Result<String, ZohoError> {
    Err(ZohoError::Http(500 + id as u16))
}

async fn tier2(id: u32) -> Result<String, ZohoError> {
    Err(ZohoError::Http(502 + id as u16))
}

struct ZohoClient;

impl ZohoClient {
    #[fallback(tier2, Self::tier3)]
    async fn get_account(&self, id: u32) -> Result<String, ZohoError> {
        Err(ZohoError::Http(500 + id as u16))
    }

    async fn tier2(&self, id: u32) -> Result<String, ZohoError> {
        Err(ZohoError::Http(502 + id as u16))
    }

    async fn tier3(&self, id: u32) -> Result<String, ZohoError> {
        Ok(format!("{id} via SDK"))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(get_account(1).await.unwrap(), "1 via REST");
    assert_eq!(ZohoClient.get_account(2).await.unwrap(), "2 via SDK");
}
