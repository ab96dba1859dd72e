// A period of zero.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 100, per = "0s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
