// `#[retry = 3]` below another attribute of ours.
use resilience::{circuit_breaker, retry};

#[circuit_breaker(name = "tier1_mcp")]
#[retry = 3]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
