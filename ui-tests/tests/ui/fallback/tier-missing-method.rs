// A method tier that does not exist (a plain name is called as a method on `self`).
use resilience::fallback;

struct ZohoClient;

impl ZohoClient {
    #[fallback(get_account_sdk)]
    async fn get_account(&self, id: u32) -> Result<u32, resilience::Error> {
        Ok(id)
    }
}

fn main() {}
