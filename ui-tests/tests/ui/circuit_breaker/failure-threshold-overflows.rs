// A failure threshold that does not even fit in 64 bits.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", failure_threshold = 99999999999999999999999)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
