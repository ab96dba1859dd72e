// `max_attempts` belongs to #[retry], not to #[circuit_breaker].
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", max_attempts = 3)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
