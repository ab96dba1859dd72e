// A breaker that closes after zero successful probes.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", success_threshold = 0)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
