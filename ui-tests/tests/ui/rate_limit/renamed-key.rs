// A name other libraries use for the same setting.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 100, period = "1s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
