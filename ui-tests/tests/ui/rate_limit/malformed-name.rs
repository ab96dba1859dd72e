// A name whose environment variables could not exist.
use resilience::rate_limit;

#[rate_limit(name = "zoho credits", rate = 100, per = "1s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
