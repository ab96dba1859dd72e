// A duration that does not parse: the letter `o` typed for the digit `0`.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", recovery_timeout = "6o s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
