// A method taking `self` by value cannot be run again: `self` is gone after the first run.
use resilience::retry;

struct ZohoClient;

impl ZohoClient {
    #[retry(max_attempts = 3)]
    async fn get_account(self, id: u32) -> Result<u32, resilience::Error> {
        Ok(id)
    }
}

fn main() {}
