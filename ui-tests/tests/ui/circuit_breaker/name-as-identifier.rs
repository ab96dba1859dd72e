// A breaker's name written as a bare identifier instead of a string: taken for a constant,
// and there is none of that name.
use resilience::circuit_breaker;

#[circuit_breaker(name = tier1_mcp)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
