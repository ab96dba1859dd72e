// A `fn` returning a boxed future written by hand, not by `#[async_trait]`.
use std::future::Future;
use std::pin::Pin;

use resilience::retry;

#[retry(max_attempts = 3)]
fn get_account(id: u32) -> Pin<Box<dyn Future<Output = Result<u32, resilience::Error>> + Send>> {
    let future = async move { Ok(id) };
    Box::pin(future)
}

fn main() {}
