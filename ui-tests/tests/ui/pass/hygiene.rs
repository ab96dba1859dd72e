#![allow(non_snake_case)]
// Arguments and locals named like the generated code's own locals do not clash with them.
use resilience::{circuit_breaker, fallback, retry};

#[fallback(tier2)]
#[retry(max_attempts = 2, base_delay = "1ms")]
#[circuit_breaker(name = "hygiene")]
async fn get_account(__permit: u32, __result: &str, __e: String) -> Result<String, resilience::Error> {
    let __error = 1;
    let __value = 2;
    let __attempt = 3;
    // The generated statics live in blocks of their own, out of the body's sight.
    let __CELL = 0;
    let __RESILIENCE_BREAKER = 0;
    let __resilience_ret = __error + __value + __attempt + __CELL + __RESILIENCE_BREAKER;
    Ok(format!("{__permit}{__result}{__e}{__resilience_ret}"))
}

async fn tier2(_: u32, _: &str, _: String) -> Result<String, resilience::Error> {
    Ok(String::new())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(get_account(1, "a", "b".into()).await.unwrap(), "1ab6");
}
