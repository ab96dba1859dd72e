// A duration above the limit of 365 days.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", recovery_timeout = "400d")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
