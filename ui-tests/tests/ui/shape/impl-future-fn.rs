// A plain `fn` returning `impl Future` instead of an `async fn`.
use std::future::Future;

use resilience::retry;

#[retry(max_attempts = 3)]
fn get_account(id: u32) -> impl Future<Output = Result<u32, resilience::Error>> {
    async move { Ok(id) }
}

fn main() {}
