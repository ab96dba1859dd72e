//! Defects of the limit attributes, reproduced on virtual time.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use resilience::{Error, bulkhead, rate_limit};
use tokio::sync::Semaphore;

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

static GATE: Semaphore = Semaphore::const_new(0);

/// Two credits an hour; one call at a time.
#[rate_limit(name = "credits_two_an_hour", rate = 2, per = "1h")]
#[bulkhead(name = "credits_org", max_concurrent = 1, max_wait = "10s")]
async fn credited() -> Result<(), Error> {
    GATE.acquire().await.expect("open").forget();
    Ok(())
}

/// A call that never reaches the dependency (refused by the bulkhead, or dropped while it
/// waits for a slot) keeps the credits it took: with two credits an hour and one call made,
/// the next call is refused.
#[tokio::test(start_paused = true)]
async fn a_call_that_never_reaches_the_dependency_spends_no_credit() {
    let credits = resilience::registry()
        .rate_limiter("credits_two_an_hour")
        .expect("registered");
    let mut holder = pin!(credited());
    assert!(poll_once(holder.as_mut()).is_pending(), "holds the slot");
    {
        // Waits for the slot, then is dropped (its caller gave up): the body never ran.
        let mut queued = pin!(credited());
        assert!(poll_once(queued.as_mut()).is_pending());
    }
    GATE.add_permits(1);
    holder.await.unwrap();
    assert_eq!(
        credits.metrics().tokens_left,
        1,
        "one call reached the dependency, of two credits an hour"
    );
}
