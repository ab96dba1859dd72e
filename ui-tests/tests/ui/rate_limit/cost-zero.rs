// A call that costs nothing needs no rate limit.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 100, per = "1s", cost = 0)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
