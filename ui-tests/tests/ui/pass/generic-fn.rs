// A generic fn with lifetimes and a where clause, returning a borrow, under all three attributes.
use resilience::{circuit_breaker, fallback, retry};

#[derive(Debug, thiserror::Error)]
enum LookupError {
    #[error("no item {0}")]
    Missing(usize),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

#[allow(clippy::needless_lifetimes)]
#[fallback(first)]
#[retry(max_attempts = 2, base_delay = "1ms")]
#[circuit_breaker(name = "generic_lookup")]
async fn lookup<'a, 'b, T>(items: &'a [T], key: &'b str) -> Result<&'a T, LookupError>
where
    T: PartialEq + Sync,
    'a: 'b,
{
    let n: usize = key.parse().map_err(|_| LookupError::Missing(usize::MAX))?;
    items.get(n).ok_or(LookupError::Missing(n))
}

async fn first<'a, 'b, T: Sync>(items: &'a [T], _key: &'b str) -> Result<&'a T, LookupError> {
    items.first().ok_or(LookupError::Missing(0))
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let items = vec![10, 20, 30];
    assert_eq!(*assert_send(lookup(&items, "2")).await.unwrap(), 30);
    assert_eq!(*lookup(&items, "9").await.unwrap(), 10, "served by the tier");
}
