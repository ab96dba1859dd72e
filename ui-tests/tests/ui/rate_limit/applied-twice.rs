// #[rate_limit] written twice on one function.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 100, per = "1s")]
#[rate_limit(name = "zoho_calls", rate = 10, per = "1s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
