// A breaker name with `::` at its end: `::` may only separate two path segments.
use resilience::circuit_breaker;

#[circuit_breaker(name = "zoho::")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
