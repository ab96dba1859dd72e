// A base below 1.0 would make each wait shorter than the one before.
use resilience::retry;

#[retry(exponential_base = 0.5)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
