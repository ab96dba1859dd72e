// `self` by value with #[retry] below #[circuit_breaker]: #[retry] is what forbids it.
use resilience::{circuit_breaker, retry};

struct ZohoClient;

impl ZohoClient {
    #[circuit_breaker(name = "tier1_mcp")]
    #[retry(max_attempts = 3)]
    async fn get_account(self, id: u32) -> Result<u32, resilience::Error> {
        Ok(id)
    }
}

fn main() {}
