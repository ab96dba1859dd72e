// The same key written twice: the second one is reported.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", failure_threshold = 5, failure_threshold = 3)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
