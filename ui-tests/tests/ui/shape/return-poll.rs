// A function returning `Poll<T>` instead of `Result<T, E>`.
use std::task::Poll;

use resilience::retry;

#[retry(max_attempts = 3)]
async fn get_account(id: u32) -> Poll<u32> {
    Poll::Ready(id)
}

fn main() {}
