// A rate of zero would refuse every call.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 0, per = "24h")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
