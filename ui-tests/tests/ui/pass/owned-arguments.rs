// Owned, `mut`, shared and `&mut` arguments handed to each attempt and to each tier.
use resilience::{fallback, retry};

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

#[fallback(tier2, tier3)]
#[retry(max_attempts = 2, base_delay = "1ms")]
async fn get_account(mut id: String, region: &str, log: &mut Vec<String>) -> Result<String, ZohoError> {
    id.push_str("@mcp");
    log.push(id);
    Err(ZohoError::Http(503))
}

async fn tier2(id: String, _region: &str, log: &mut Vec<String>) -> Result<String, ZohoError> {
    log.push(format!("{id}@sdk"));
    Err(ZohoError::Http(502))
}

async fn tier3(id: String, region: &str, log: &mut Vec<String>) -> Result<String, ZohoError> {
    log.push(format!("{id}@rest"));
    Ok(format!("{id} in {region}"))
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut log = Vec::new();
    let served = assert_send(get_account("42".into(), "eu", &mut log)).await.unwrap();
    assert_eq!(served, "42 in eu");
    assert_eq!(log, ["42@mcp", "42@mcp", "42@sdk", "42@rest"]);
}
