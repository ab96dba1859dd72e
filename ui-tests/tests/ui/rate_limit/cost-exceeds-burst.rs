// A call that costs more than the whole burst could never pass.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 100_000, per = "24h", burst = 500, cost = 501)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
