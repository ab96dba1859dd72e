// A wait for a slot above 365 days.
use resilience::bulkhead;

#[bulkhead(name = "zoho_org", max_wait = "400days")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
