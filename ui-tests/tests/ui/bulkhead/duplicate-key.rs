// The same key twice.
use resilience::bulkhead;

#[bulkhead(name = "zoho_org", max_concurrent = 15, max_concurrent = 10)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
