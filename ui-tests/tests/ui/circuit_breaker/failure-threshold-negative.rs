// A failure threshold is a count of failures: it cannot be negative.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", failure_threshold = -5)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
