// A rate above resilience::config::MAX_RATE.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 2_000_000_000_000, per = "24h")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
