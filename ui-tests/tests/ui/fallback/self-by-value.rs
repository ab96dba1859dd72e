// A method taking `self` by value cannot be handed to its fallback tier after its own run.
use resilience::fallback;

struct ZohoClient;

impl ZohoClient {
    #[fallback(get_account_sdk)]
    async fn get_account(self, id: u32) -> Result<u32, resilience::Error> {
        Ok(id)
    }

    async fn get_account_sdk(self, id: u32) -> Result<u32, resilience::Error> {
        Ok(id)
    }
}

fn main() {}
