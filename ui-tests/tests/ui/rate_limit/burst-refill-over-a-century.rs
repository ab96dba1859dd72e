// A bucket that would take more than 100 years to refill.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 1, per = "365days", burst = 200)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
