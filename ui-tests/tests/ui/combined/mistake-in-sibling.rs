// A mistake in the second attribute is reported once, at its value.
use resilience::{circuit_breaker, retry};

#[circuit_breaker(name = "tier1_mcp")]
#[retry(max_attempts = 0)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
