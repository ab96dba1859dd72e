// A failure rate of 0.0 would open the breaker on any call.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", window_size = 20, failure_rate_threshold = 0.0)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
