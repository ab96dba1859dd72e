//! A rate limiter's variable that makes an attribute's `cost` larger than the burst.

use resilience::{Error, rate_limit};

/// Burst defaults to the rate, 100: a cost of 50 compiles.
#[rate_limit(name = "env_cost_credits", rate = 100, per = "1s", cost = 50)]
async fn search() -> Result<(), Error> {
    Ok(())
}

/// `RATE_LIMIT_<NAME>_RATE=10` lowers the default burst to 10, below the cost of 50 that the
/// attribute's compile-time check let through: every call is refused, for ever, with no
/// `retry_after` and no error naming the variable.
#[tokio::test(start_paused = true)]
async fn a_variable_that_puts_the_burst_below_the_cost_does_not_refuse_every_call() {
    // SAFETY: the only test of this binary, before anything reads the environment.
    unsafe { std::env::set_var("RATE_LIMIT_ENV_COST_CREDITS_RATE", "10") };
    let credits = resilience::registry()
        .rate_limiter("env_cost_credits")
        .expect("registered");
    tokio::time::advance(std::time::Duration::from_secs(3600)).await;
    let result = search().await;
    assert!(
        result.is_ok(),
        "burst {} against a cost of 50: {result:?}",
        credits.config().burst
    );
}
