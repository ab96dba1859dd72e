// #[retry] logs each failed attempt, so the error type must implement `Display`.
use resilience::retry;

#[derive(Debug)]
struct HttpError(u16);

#[retry(max_attempts = 3)]
async fn get_account(id: u32) -> Result<u32, HttpError> {
    Err(HttpError(500 + id as u16))
}

fn main() {}
