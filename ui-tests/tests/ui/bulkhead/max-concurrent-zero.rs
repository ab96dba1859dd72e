// A bulkhead of zero slots would refuse every call.
use resilience::bulkhead;

#[bulkhead(name = "zoho_org", max_concurrent = 0)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
