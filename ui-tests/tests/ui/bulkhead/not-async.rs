// #[bulkhead] on a function that is not `async`.
use resilience::bulkhead;

#[bulkhead(name = "zoho_org", max_concurrent = 15)]
fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
