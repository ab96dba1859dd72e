// A breaker name that starts with a digit.
use resilience::circuit_breaker;

#[circuit_breaker(name = "1st_tier")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
