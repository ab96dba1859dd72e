// Fewer probes than the default success_threshold (2) needs: the circuit could never close.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", half_open_max_calls = 1)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
