// A `retry_after` hint over another error type than the function's.
use std::time::Duration;

use resilience::retry;

#[derive(Debug, thiserror::Error)]
#[error("HTTP {0}")]
struct HttpError(u16);

fn hint(_: &std::io::Error) -> Option<Duration> {
    None
}

#[retry(max_attempts = 3, retry_after = hint)]
async fn get_account(id: u32) -> Result<u32, HttpError> {
    Err(HttpError(500 + id as u16))
}

fn main() {}
