// A name other libraries use for the same setting.
use resilience::bulkhead;

#[bulkhead(name = "zoho_org", concurrency = 15)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
