// A zero budget would never allow a retry.
use resilience::retry;

#[retry(max_attempts = 3, budget = "0s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
