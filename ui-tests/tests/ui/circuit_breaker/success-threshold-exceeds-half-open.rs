// More successes needed to close than probes allowed while half-open.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", half_open_max_calls = 2, success_threshold = 3)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
