// A misspelt key gets a suggestion.
use resilience::bulkhead;

#[bulkhead(name = "zoho_org", max_concurent = 15)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
