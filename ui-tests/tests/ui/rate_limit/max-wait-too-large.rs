// A wait for tokens above 365 days.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 100, per = "1s", max_wait = "400days")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
