// #[retry] written twice, once under another name.
use resilience::retry;
use resilience::retry as with_retry;

#[retry(max_attempts = 3)]
#[with_retry(max_attempts = 5)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
