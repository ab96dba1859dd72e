// Arguments that are not `key = value` pairs at all.
use resilience::circuit_breaker;

#[circuit_breaker("tier1_mcp", 5)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
