// Several mistakes in one attribute: all are reported at once.
use resilience::circuit_breaker;

#[circuit_breaker(
    name = "zoho-mcp",
    failure_treshold = 5,
    recovery_timeout = "6o s",
    half_open_max_calls = 0,
    failure_rate_threshold = 2.0,
)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
