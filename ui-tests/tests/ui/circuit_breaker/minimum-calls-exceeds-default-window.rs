// More calls needed before the rate rule applies than the default window (100) holds.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", minimum_calls = 150)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
