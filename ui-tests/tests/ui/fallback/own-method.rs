// A method named as its own fallback tier, with `Self::`.
use resilience::fallback;

struct ZohoClient;

impl ZohoClient {
    #[fallback(Self::get_account)]
    async fn get_account(&self, id: u32) -> Result<u32, resilience::Error> {
        Ok(id)
    }
}

fn main() {}
