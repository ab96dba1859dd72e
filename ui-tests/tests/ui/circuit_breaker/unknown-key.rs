// A key that no attribute knows: the message lists the keys #[circuit_breaker] takes.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", colour = "red")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
