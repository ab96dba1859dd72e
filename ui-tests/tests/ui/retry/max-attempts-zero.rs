// Zero attempts would never call the function.
use resilience::retry;

#[retry(max_attempts = 0)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
