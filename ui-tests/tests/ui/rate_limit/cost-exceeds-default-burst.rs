// A cost above the default burst, the rate.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 10, per = "1s", cost = 20)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
