// #[fallback] keeps each tier's error across threads: an error holding an `Rc` is not `Send`.
use std::rc::Rc;

use resilience::fallback;

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}: {1}")]
    Http(u16, Rc<str>),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

#[fallback(get_account_sdk)]
async fn get_account(id: u32) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(500 + id as u16, "down".into()))
}

async fn get_account_sdk(id: u32) -> Result<u32, ZohoError> {
    Ok(id)
}

fn main() {}
