// A `retry_after` hint that returns a `bool` instead of an `Option<Duration>`.
use resilience::retry;

#[derive(Debug, thiserror::Error)]
#[error("HTTP {0}")]
struct HttpError(u16);

impl HttpError {
    fn is_throttled(&self) -> bool {
        self.0 == 429
    }
}

#[retry(max_attempts = 3, retry_after = HttpError::is_throttled)]
async fn get_account(id: u32) -> Result<u32, HttpError> {
    Err(HttpError(500 + id as u16))
}

fn main() {}
