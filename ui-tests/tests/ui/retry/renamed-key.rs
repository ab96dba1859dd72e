// `retries` is what other libraries call it; the key is `max_attempts`.
use resilience::retry;

#[retry(retries = 3)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
