// A misspelt key: the message suggests the key that was meant.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", failure_treshold = 5)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
