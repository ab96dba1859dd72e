// A breaker that opens after zero failures could never be closed.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", failure_threshold = 0)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
