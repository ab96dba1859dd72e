// `crate = path` without quotes.
use resilience::retry;

#[retry(max_attempts = 3, crate = resilience)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
