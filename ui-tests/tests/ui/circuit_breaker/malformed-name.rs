// A breaker name with a `-`, which cannot appear in an environment variable's name.
use resilience::circuit_breaker;

#[circuit_breaker(name = "zoho-mcp")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
