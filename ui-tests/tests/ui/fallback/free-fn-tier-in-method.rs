// In a method, a plain tier name is a method on `self`, so a free fn of that name is not found.
use resilience::fallback;

struct ZohoClient;

async fn get_account_rest(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

impl ZohoClient {
    #[fallback(get_account_rest)]
    async fn get_account(&self, id: u32) -> Result<u32, resilience::Error> {
        Ok(id)
    }
}

fn main() {}
