// A failure threshold above the limit of 1 000 000.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", failure_threshold = 5_000_000)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
