// A wait that is not a duration.
use resilience::bulkhead;

#[bulkhead(name = "zoho_org", max_wait = true)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
