// A timeout is returned as the function's error type, which must convert from
// `resilience::Error`.
use resilience::timeout;

#[derive(Debug, thiserror::Error)]
#[error("HTTP {0}")]
struct HttpError(u16);

#[timeout("5s")]
async fn get_account(id: u32) -> Result<u32, HttpError> {
    Ok(id)
}

fn main() {}
