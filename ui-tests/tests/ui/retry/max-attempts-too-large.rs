// More attempts than the limit of 1000.
use resilience::retry;

#[retry(max_attempts = 1_000_000)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
