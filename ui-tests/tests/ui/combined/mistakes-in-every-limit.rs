// One mistake in each limit: each is reported, once, at its value.
use resilience::{bulkhead, rate_limit, timeout};

#[timeout("0s")]
#[bulkhead(name = "zoho_org", max_concurrent = 0)]
#[rate_limit(name = "zoho_credits", rate = 10, per = "1s", cost = 11)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
