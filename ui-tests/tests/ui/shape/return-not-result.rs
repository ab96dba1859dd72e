// A function returning `u32` instead of `Result<u32, E>`.
use resilience::retry;

#[retry(max_attempts = 3)]
async fn get_account(id: u32) -> u32 {
    id
}

fn main() {}
