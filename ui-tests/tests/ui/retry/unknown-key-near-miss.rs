// A misspelt key: the message suggests the key that was meant.
use resilience::retry;

#[retry(max_attempt = 3)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
