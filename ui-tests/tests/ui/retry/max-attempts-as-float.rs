// A count written as a decimal number.
use resilience::retry;

#[retry(max_attempts = 3.0)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
