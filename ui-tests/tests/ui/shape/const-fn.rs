// A `const fn`, which cannot be `async`.
use resilience::retry;

#[retry(max_attempts = 3)]
const fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
