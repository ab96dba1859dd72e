// A breaker's name written as a number instead of a string.
use resilience::circuit_breaker;

#[circuit_breaker(name = 1)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
