// A `failure_if` predicate over `u32`, for a function whose error is `ZohoError`.
use resilience::circuit_breaker;

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

fn is_server_error(code: &u32) -> bool {
    *code >= 500
}

#[circuit_breaker(name = "tier1_mcp", failure_if = is_server_error)]
async fn get_account(id: u32) -> Result<u32, ZohoError> {
    Err(ZohoError::Http(500 + id as u16))
}

fn main() {}
