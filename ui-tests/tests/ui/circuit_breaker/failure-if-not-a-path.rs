// `failure_if` takes the path of a function, not a closure.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp", failure_if = |e: &resilience::Error| true)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
