// A `retry_if` predicate that does not exist.
use resilience::retry;

#[derive(Debug, thiserror::Error)]
#[error("HTTP {0}")]
struct HttpError(u16);

#[retry(max_attempts = 3, retry_if = HttpError::is_transient)]
async fn get_account(id: u32) -> Result<u32, HttpError> {
    Err(HttpError(500 + id as u16))
}

fn main() {}
