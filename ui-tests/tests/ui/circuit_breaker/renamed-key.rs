// `half_open_calls` is the guide's variable name; the key is `half_open_max_calls`.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", half_open_calls = 3)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
