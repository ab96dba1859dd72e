// A breaker name from an associated constant: the breaker's `static` cannot refer to `Self`.
use resilience::circuit_breaker;

struct Zoho;

impl Zoho {
    const TIER1: &'static str = "tier1_mcp";

    #[circuit_breaker(name = Self::TIER1)]
    async fn get_account(&self, id: u32) -> Result<u32, resilience::Error> {
        Ok(id)
    }
}

fn main() {}
