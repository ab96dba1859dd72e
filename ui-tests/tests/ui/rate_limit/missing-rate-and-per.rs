// A rate limit without its rate and period.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
