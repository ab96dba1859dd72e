// A function returning an `Option`: #[fallback] needs an error to report.
use resilience::fallback;

#[fallback(get_account_sdk)]
async fn get_account(id: u32) -> Option<u32> {
    Some(id)
}

async fn get_account_sdk(id: u32) -> Option<u32> {
    Some(id)
}

fn main() {}
