//! Arguments and receivers under the attributes: each run starts from the caller's values,
//! `self: Arc<Self>` serves services shared with tasks, and the generated code is clean under
//! clippy's pedantic lints (this file is linted with them).
#![warn(clippy::pedantic)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use resilience::{circuit_breaker, fallback, retry};

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

async fn seen_by_tier(input: &str, count: &mut u32) -> Result<usize, ApiError> {
    tokio::task::yield_now().await;
    SEEN.lock().unwrap().push(format!("tier {input} {count}"));
    Ok(input.len())
}

/// Reassigns its `mut` arguments, then fails: the next attempt and the tier must not see the
/// reassignment.
#[fallback(seen_by_tier)]
#[retry(max_attempts = 3, base_delay = "1ms", jitter = false)]
async fn shorten(mut input: &str, mut count: &mut u32) -> Result<usize, ApiError> {
    SEEN.lock().unwrap().push(format!("body {input} {count}"));
    input = &input[1..];
    *count += 1;
    let mut other = 0;
    count = &mut other;
    *count += u32::try_from(input.len()).unwrap();
    Err(ApiError::Http(503))
}

#[tokio::test(start_paused = true)]
async fn every_run_starts_from_the_callers_arguments() {
    let mut count = 0;
    assert_eq!(shorten("abc", &mut count).await.unwrap(), 3);
    assert_eq!(
        *SEEN.lock().unwrap(),
        ["body abc 0", "body abc 1", "body abc 2", "tier abc 3"],
        "each attempt sees the caller's `input`, and the writes through `count`"
    );
}

/// A service shared with tasks: its methods take `self: Arc<Self>`.
struct Service {
    primary_calls: AtomicU32,
    up: bool,
}

impl Service {
    #[fallback(fetch_backup)]
    #[retry(max_attempts = 2, base_delay = "1ms", jitter = false)]
    #[circuit_breaker(name = "arguments_arc_self")]
    async fn fetch(self: Arc<Self>, _id: u32) -> Result<u32, ApiError> {
        self.primary_calls.fetch_add(1, Ordering::SeqCst);
        if self.up {
            Ok(1)
        } else {
            Err(ApiError::Http(503))
        }
    }

    async fn fetch_backup(self: Arc<Self>, id: u32) -> Result<u32, ApiError> {
        tokio::task::yield_now().await;
        Ok(id + 100)
    }

    // The receiver written out is the shape under test.
    #[allow(clippy::needless_arbitrary_self_type)]
    #[retry(max_attempts = 2, base_delay = "1ms", jitter = false)]
    async fn describe(self: &Self, _: u32) -> Result<bool, ApiError> {
        Ok(self.up)
    }
}

#[tokio::test(start_paused = true)]
async fn an_arc_self_method_is_retried_and_falls_back_on_a_task() {
    let down = Arc::new(Service {
        primary_calls: AtomicU32::new(0),
        up: false,
    });
    let task = tokio::spawn(Arc::clone(&down).fetch(7));
    assert_eq!(task.await.unwrap().unwrap(), 107);
    assert_eq!(down.primary_calls.load(Ordering::SeqCst), 2);
    assert!(!down.describe(1).await.unwrap());
    // The caller's handle and the one the call took are all that were made.
    assert_eq!(Arc::strong_count(&down), 1);
}
