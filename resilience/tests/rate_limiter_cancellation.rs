//! Defects of the limits, reproduced on virtual time.

use std::sync::Arc;
use std::time::Duration;

use resilience::limit::RateLimiter;
use tokio::time::{Instant, advance};

/// A waiter dropped while another waits behind it gives its tokens back by moving the TAT back,
/// although the tokens behind it are still reserved: the next caller is then given the same
/// instant as the waiter behind, and two calls pass at once through a burst of one.
#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_ahead_of_another_lets_two_calls_through_a_burst_of_one() {
    let limiter = Arc::new(
        RateLimiter::builder("cancelled_waiter", 1, Duration::from_secs(1))
            .burst(1)
            .max_wait(Duration::from_secs(10))
            .ignore_env()
            .build()
            .unwrap(),
    );
    let start = Instant::now();
    limiter.try_acquire().unwrap(); // t = 0
    let admitted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let spawn = |limiter: Arc<RateLimiter>| {
        let admitted = admitted.clone();
        tokio::spawn(async move {
            limiter.acquire_n_owned(1).await.unwrap();
            admitted.lock().unwrap().push(start.elapsed());
        })
    };
    let a = spawn(limiter.clone()); // due at 1 s
    tokio::task::yield_now().await;
    let b = spawn(limiter.clone()); // due at 2 s
    tokio::task::yield_now().await;
    advance(Duration::from_millis(500)).await;
    a.abort(); // gives its token back
    let _ = a.await;
    let c = spawn(limiter.clone());
    tokio::task::yield_now().await;
    b.await.unwrap();
    c.await.unwrap();
    let admitted = admitted.lock().unwrap().clone();
    assert_ne!(
        admitted[0], admitted[1],
        "burst 1, rate 1/s: two calls admitted at the same instant ({admitted:?})"
    );
}
