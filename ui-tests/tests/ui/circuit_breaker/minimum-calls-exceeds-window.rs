// More calls needed before the rate rule applies than the window holds.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", window_size = 10, minimum_calls = 20)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
