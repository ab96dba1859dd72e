// A failure rate is a share of calls: 50 % is written 0.5, not 50.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", window_size = 20, failure_rate_threshold = 50)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
