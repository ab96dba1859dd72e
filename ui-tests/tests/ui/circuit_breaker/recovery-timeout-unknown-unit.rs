// A duration with a unit that is not one of ms, s, m, h, d.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", recovery_timeout = "10 parsecs")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
