// A function that is not `async`.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp")]
fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
