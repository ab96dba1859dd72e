// A crate's own `Result<T>` alias as the return type.
use resilience::{fallback, retry};

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

type Result<T> = std::result::Result<T, ZohoError>;

#[fallback(get_account_rest)]
#[retry(max_attempts = 2, base_delay = "1ms")]
async fn get_account(id: u32) -> Result<u32> {
    Err(ZohoError::Http(500 + id as u16))
}

async fn get_account_rest(id: u32) -> Result<u32> {
    Ok(id)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(get_account(3).await.unwrap(), 3);
}
