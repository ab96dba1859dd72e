// `retry_after` takes the path of a function, not a duration.
use resilience::retry;

#[retry(max_attempts = 3, retry_after = "5s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
