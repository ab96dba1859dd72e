// A key of #[bulkhead] written in #[rate_limit].
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 100, per = "1s", max_concurrent = 5)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
