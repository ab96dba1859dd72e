// `#[retry = 3]` instead of `#[retry(max_attempts = 3)]`.
use resilience::retry;

#[retry = 3]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
