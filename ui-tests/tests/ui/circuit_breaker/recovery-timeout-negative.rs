// A negative duration.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", recovery_timeout = -30)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
