// A `retry_if` predicate that returns a `String` instead of a `bool`.
use resilience::retry;

#[derive(Debug, thiserror::Error)]
#[error("HTTP {0}")]
struct HttpError(u16);

impl HttpError {
    fn describe(&self) -> String {
        format!("HTTP {}", self.0)
    }
}

#[retry(max_attempts = 3, retry_if = HttpError::describe)]
async fn get_account(id: u32) -> Result<u32, HttpError> {
    Err(HttpError(500 + id as u16))
}

fn main() {}
