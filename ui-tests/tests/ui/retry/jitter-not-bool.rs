// `jitter` is `true` or `false`, not a number.
use resilience::retry;

#[retry(max_attempts = 3, jitter = 1)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
