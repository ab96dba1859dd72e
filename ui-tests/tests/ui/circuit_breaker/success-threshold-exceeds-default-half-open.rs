// More successes needed to close than the default half_open_max_calls (3) allows.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", success_threshold = 4)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
