// A method taking `self: Box<Self>` cannot be run once per attempt.
use resilience::retry;

struct ZohoClient;

impl ZohoClient {
    #[retry(max_attempts = 3)]
    async fn get_account(self: Box<Self>, id: u32) -> Result<u32, resilience::Error> {
        Ok(id)
    }
}

fn main() {}
