// A name whose environment variables could not exist.
use resilience::bulkhead;

#[bulkhead(name = "zoho-org", max_concurrent = 15)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
