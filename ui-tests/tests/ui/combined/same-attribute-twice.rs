// #[retry] written twice on one function.
use resilience::retry;

#[retry(max_attempts = 3)]
#[retry(max_attempts = 5)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
