// `failure_threshold` belongs to #[circuit_breaker], not to #[retry].
use resilience::retry;

#[retry(max_attempts = 3, failure_threshold = 5)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
