// More tokens than nanoseconds in the period.
use resilience::rate_limit;

#[rate_limit(name = "zoho_credits", rate = 2_000, per = "1us")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
