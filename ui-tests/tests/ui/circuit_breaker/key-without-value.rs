// A key without `= value`.
use resilience::circuit_breaker;

#[circuit_breaker(name, failure_threshold = 5)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
