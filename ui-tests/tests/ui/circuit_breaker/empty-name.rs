// An empty breaker name.
use resilience::circuit_breaker;

#[circuit_breaker(name = "")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
