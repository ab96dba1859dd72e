// A rate limiter named by a constant of the impl: its site is a `static`, which cannot see `Self`.
use resilience::rate_limit;

struct Zoho;

impl Zoho {
    const CREDITS: &'static str = "zoho_credits";

    #[rate_limit(name = Self::CREDITS, rate = 100, per = "1s")]
    async fn get_account(&self, id: u32) -> Result<u32, resilience::Error> {
        Ok(id)
    }
}

fn main() {}
