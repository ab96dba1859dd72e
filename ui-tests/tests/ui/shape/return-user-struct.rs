// A function returning a struct of its own instead of `Result<T, E>`.
use resilience::retry;

struct Account {
    id: u32,
}

#[retry(max_attempts = 3)]
async fn get_account(id: u32) -> Account {
    Account { id }
}

fn main() {}
