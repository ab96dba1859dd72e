// A burst above resilience::limit::MAX_BURST.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 100, per = "1s", burst = 2_000_000_000)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
