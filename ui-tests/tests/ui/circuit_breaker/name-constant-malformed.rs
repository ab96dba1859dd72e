// A breaker name from a constant whose value has a `-`: rejected by a const evaluation.
use resilience::circuit_breaker;

const TIER1: &str = "tier1-mcp";

#[circuit_breaker(name = TIER1)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
