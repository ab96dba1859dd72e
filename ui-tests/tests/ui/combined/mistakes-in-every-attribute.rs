// Mistakes in all three attributes and in the method's shape: all reported at once.
use resilience::{circuit_breaker, fallback, retry};

struct ZohoClient;

impl ZohoClient {
    #[fallback(get_account)]
    #[retry(max_attempts = 0, jitter = "yes")]
    #[circuit_breaker(name = "zoho mcp")]
    async fn get_account(self, id: u32) -> Result<u32, resilience::Error> {
        Ok(id)
    }
}

fn main() {}
