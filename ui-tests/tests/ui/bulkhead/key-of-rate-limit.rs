// A key of #[rate_limit] written in #[bulkhead].
use resilience::bulkhead;

#[bulkhead(name = "zoho_org", burst = 15)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
