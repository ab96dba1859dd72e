// A rate limit without its rate.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", per = "1s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
