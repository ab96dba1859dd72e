// #[circuit_breaker] written twice, once by its full path.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp")]
#[resilience::circuit_breaker(name = "tier1_mcp_again")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
