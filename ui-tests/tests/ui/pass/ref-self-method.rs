// A `&self` method under all three attributes, with `&self` method tiers.
use resilience::{circuit_breaker, fallback, retry};

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

struct ZohoClient {
    mcp_up: bool,
}

impl ZohoClient {
    #[fallback(get_account_sdk)]
    #[retry(max_attempts = 2, base_delay = "1ms")]
    #[circuit_breaker(name = "tier1_mcp")]
    async fn get_account(&self, id: &str) -> Result<String, ZohoError> {
        if self.mcp_up { Ok(format!("{id} via MCP")) } else { Err(ZohoError::Http(503)) }
    }

    #[circuit_breaker(name = "tier2_sdk")]
    async fn get_account_sdk(&self, id: &str) -> Result<String, ZohoError> {
        Ok(format!("{id} via SDK"))
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let up = ZohoClient { mcp_up: true };
    assert_eq!(assert_send(up.get_account("42")).await.unwrap(), "42 via MCP");
    let down = ZohoClient { mcp_up: false };
    assert_eq!(assert_send(down.get_account("42")).await.unwrap(), "42 via SDK");
}
