// More slots than a bulkhead holds (resilience::limit::MAX_CONCURRENT).
use resilience::bulkhead;

#[bulkhead(name = "zoho_org", max_concurrent = 2_000_000)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
