// A plain `fn` under all three attributes: one message, naming the first attribute.
use resilience::{circuit_breaker, fallback, retry};

#[circuit_breaker(name = "tier1_mcp")]
#[retry(max_attempts = 3)]
#[fallback(get_account_sdk)]
fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn get_account_sdk(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
