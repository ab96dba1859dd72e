// A recovery timeout of zero: the breaker would never stay open.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", recovery_timeout = "0s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
