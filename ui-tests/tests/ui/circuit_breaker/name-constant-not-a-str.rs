// A breaker name from a constant that is not a `&str`.
use resilience::circuit_breaker;

const TIER1: u32 = 1;

#[circuit_breaker(name = TIER1)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
