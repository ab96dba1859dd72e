// A guarded function that is never called gets the usual dead-code warning.
#![deny(dead_code)]
use resilience::{circuit_breaker, retry};

#[retry(max_attempts = 3)]
#[circuit_breaker(name = "never_called")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
