// In a method, a tier given by a longer path is a free fn called with `self` first.
use resilience::fallback;

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

struct ZohoClient {
    region: &'static str,
}

mod rest {
    pub async fn get_account(client: &super::ZohoClient, id: u32) -> Result<String, super::ZohoError> {
        Ok(format!("{id} via REST in {}", client.region))
    }
}

impl ZohoClient {
    #[fallback(crate::rest::get_account)]
    async fn get_account(&self, id: u32) -> Result<String, ZohoError> {
        Err(ZohoError::Http(500 + id as u16))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let client = ZohoClient { region: "eu" };
    assert_eq!(client.get_account(1).await.unwrap(), "1 via REST in eu");
}
