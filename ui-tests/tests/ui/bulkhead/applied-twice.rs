// #[bulkhead] written twice on one function.
use resilience::bulkhead;

#[bulkhead(name = "zoho_org", max_concurrent = 15)]
#[bulkhead(name = "zoho_api", max_concurrent = 5)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
