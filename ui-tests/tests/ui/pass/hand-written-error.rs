// An error type written by hand, without thiserror: Display, Error and From<resilience::Error>.
use std::fmt;

use resilience::{circuit_breaker, fallback, retry};

#[derive(Debug)]
enum ZohoError {
    Http(u16),
    Resilience(resilience::Error),
}

impl fmt::Display for ZohoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZohoError::Http(code) => write!(f, "HTTP {code}"),
            ZohoError::Resilience(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ZohoError {}

impl From<resilience::Error> for ZohoError {
    fn from(e: resilience::Error) -> Self {
        ZohoError::Resilience(e)
    }
}

#[fallback(get_account_rest)]
#[retry(max_attempts = 2, base_delay = "1ms")]
#[circuit_breaker(name = "tier1_mcp")]
async fn get_account(id: u32) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(500 + id as u16))
}

async fn get_account_rest(id: u32) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(502 + id as u16))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    match get_account(1).await {
        Err(ZohoError::Resilience(resilience::Error::AllTiersFailed(e))) => {
            assert_eq!(e.attempted_tiers.len(), 2);
        }
        other => panic!("expected all tiers to fail, got {other:?}"),
    }
}
