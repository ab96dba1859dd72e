//! [`Timeout`]: a time limit on each attempt of a call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::ConfigError;

/// An attempt ran out of time and was cancelled (its future dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError {
    pub(crate) after: Duration,
}

impl TimeoutError {
    /// The time limit that ran out.
    pub fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:.3}s", self.after.as_secs_f64())
    }
}

impl std::error::Error for TimeoutError {}

/// A time limit on one attempt: a call that runs out is cancelled, its future dropped where it
/// stands, and fails with [`TimeoutError`].
///
/// Under a circuit breaker, a timeout is a failure of the dependency like any other; under a
/// bulkhead, the cancelled call frees its slot at once.
///
/// ```
/// use std::time::Duration;
/// use resilience::limit::Timeout;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), resilience::ConfigError> {
/// let timeout = Timeout::new(Duration::from_secs(5))?;
/// let slow = timeout.run(tokio::time::sleep(Duration::from_secs(10))).await;
/// assert_eq!(slow.unwrap_err().after(), Duration::from_secs(5));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    after: Duration,
}

impl Timeout {
    /// A limit of `after`: greater than zero, at most
    /// [`MAX_DURATION`](crate::config::MAX_DURATION).
    pub fn new(after: Duration) -> Result<Self, ConfigError> {
        if after.is_zero() || after > crate::config::MAX_DURATION {
            return Err(crate::config::invalid(
                "",
                "timeout",
                format!("{after:?}"),
                "must be greater than zero and at most 365 days".into(),
            ));
        }
        Ok(Self { after })
    }

    /// The time limit.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// Runs `fut` for at most the limit; past it, drops `fut` and returns [`TimeoutError`].
    ///
    /// The clock starts when this is called, as with [`tokio::time::timeout`]; it needs a
    /// tokio runtime with time enabled.
    pub fn run<F: Future>(&self, fut: F) -> Limited<F> {
        Limited {
            inner: tokio::time::timeout(self.after, fut),
            after: self.after,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Timeout::run`]: `F`'s output, or [`TimeoutError`] once the limit has
    /// passed.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Limited<F> {
        #[pin]
        inner: tokio::time::Timeout<F>,
        after: Duration,
    }
}

impl<F: Future> Future for Limited<F> {
    type Output = Result<F::Output, TimeoutError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.poll(cx) {
            Poll::Ready(Ok(output)) => Poll::Ready(Ok(output)),
            Poll::Ready(Err(_)) => Poll::Ready(Err(TimeoutError { after: *this.after })),
            Poll::Pending => Poll::Pending,
        }
    }
}
