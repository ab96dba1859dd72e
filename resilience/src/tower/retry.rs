//! [`RetryLayer`]: a [`RetryPolicy`] around a service, with a retry budget.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use ::tower::retry::budget::{Budget, TpsBudget};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::verdict_for;
use crate::error::ConfigError;
use crate::retry::{RetryPolicy, RunState, Verdict};

// ---------------------------------------------------------------------------------------------
// Classifiers
// ---------------------------------------------------------------------------------------------

/// Decides how a call's outcome is followed up: [`Verdict::Stop`] returns it as it is (a
/// success, or an error not worth retrying), [`Verdict::Retry`] retries after the policy's
/// backoff, [`Verdict::RetryAfter`] retries after at least the given wait, or stops when that
/// does not fit within `max_delay` and the policy's budget.
///
/// Implemented by [`RetryErrors`] (the default), [`RetryHttp`] (for HTTP responses) and every
/// `Fn(&Result<Resp, E>) -> Verdict`. Cloned into every response future: keep it cheap to
/// clone.
pub trait RetryClassify<Resp, E> {
    /// The verdict for `result`.
    fn verdict(&self, result: &Result<Resp, E>) -> Verdict;
}

impl<Resp, E, F> RetryClassify<Resp, E> for F
where
    F: Fn(&Result<Resp, E>) -> Verdict,
{
    #[inline]
    fn verdict(&self, result: &Result<Resp, E>) -> Verdict {
        self(result)
    }
}

/// The default classifier: every response is returned, every error is retried, the crate's
/// refusals as they ask (see [`verdict_for`]): a rate limiter's or an open breaker's after its
/// `retry_after`, a forced-open breaker's not at all.
///
/// ```
/// use std::time::Duration;
/// use resilience::{BoxError, Verdict};
/// use resilience::tower::{RetryClassify, RetryErrors};
///
/// assert_eq!(RetryErrors.verdict(&Ok::<_, BoxError>("ACME Corp")), Verdict::Stop);
/// assert_eq!(RetryErrors.verdict(&Err::<(), BoxError>("reset".into())), Verdict::Retry);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryErrors;

impl<Resp, E: 'static> RetryClassify<Resp, E> for RetryErrors {
    #[inline]
    fn verdict(&self, result: &Result<Resp, E>) -> Verdict {
        match result {
            Ok(_) => Verdict::Stop,
            Err(e) => verdict_for(e),
        }
    }
}

/// The classifier for HTTP clients: a response whose status is a failure of the dependency
/// ([`http::is_failure`](crate::http::is_failure): `5xx` and `429`) is retried, after its
/// `Retry-After` when it has one ([`http::retry_after`](crate::http::retry_after)); every other
/// response, `4xx` included, is returned as it is; errors as [`RetryErrors`] treats them.
///
/// ```
/// use std::time::Duration;
/// use resilience::Verdict;
/// use resilience::tower::{RetryClassify, RetryHttp};
///
/// let response = |status: u16, retry_after: Option<&str>| {
///     let mut r = http::Response::builder().status(status);
///     if let Some(v) = retry_after {
///         r = r.header(http::header::RETRY_AFTER, v);
///     }
///     Ok::<_, std::io::Error>(r.body(()).unwrap())
/// };
/// assert_eq!(RetryHttp.verdict(&response(503, None)), Verdict::Retry);
/// assert_eq!(RetryHttp.verdict(&response(429, Some("2"))), Verdict::RetryAfter(Duration::from_secs(2)));
/// assert_eq!(RetryHttp.verdict(&response(404, None)), Verdict::Stop);
/// assert_eq!(RetryHttp.verdict(&response(200, None)), Verdict::Stop);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryHttp;

impl<B, E: 'static> RetryClassify<http::Response<B>, E> for RetryHttp {
    fn verdict(&self, result: &Result<http::Response<B>, E>) -> Verdict {
        match result {
            Ok(response) if crate::http::is_failure(response.status()) => {
                Verdict::after(crate::http::retry_after(response.headers()))
            }
            Ok(_) => Verdict::Stop,
            Err(e) => verdict_for(e),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Layer and service
// ---------------------------------------------------------------------------------------------

/// A [`Layer`] retrying calls as a [`RetryPolicy`] says: attempts, backoff, jitter and time
/// budget from the policy, what to retry from a [classifier](RetryClassify), and a retry
/// budget shared by every service the layer makes, so that retries never multiply the load on a
/// dependency that is down.
///
/// The retry budget is tower's [`TpsBudget`]: each request deposits, each retry withdraws, and
/// a retry the budget cannot pay for is not made (the last outcome is returned). By default,
/// Finagle's and tower's: deposits kept 10 s, at least 10 retries a second, and beyond that
/// 20 % of the requests. Change it with [`tps_budget`](Self::tps_budget) or
/// [`budget`](Self::budget), or leave it out with [`without_budget`](Self::without_budget).
///
/// Each attempt gets its own clone of the request (hence `Req: Clone`; the last possible
/// attempt takes the request itself); waits run on tokio's clock.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use resilience::RetryPolicy;
/// use resilience::tower::{RetryHttp, RetryLayer};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), resilience::BoxError> {
/// let policy = RetryPolicy::builder().max_attempts(3).base_delay(Duration::from_millis(100)).build()?;
/// let calls = Arc::new(AtomicU32::new(0));
/// let server = {
///     let calls = Arc::clone(&calls);
///     service_fn(move |path: &'static str| {
///         let n = calls.fetch_add(1, Ordering::Relaxed);
///         // Overloaded at first: 503 with `Retry-After: 2`.
///         let status = if n == 0 { 503 } else { 200 };
///         async move {
///             http::Response::builder().status(status).header("retry-after", "2").body(path)
///         }
///     })
/// };
/// let svc = ServiceBuilder::new()
///     .layer(RetryLayer::new(policy).classifier(RetryHttp))
///     .service(server);
///
/// let started = tokio::time::Instant::now();
/// let response = svc.oneshot("/crm/v8/Accounts/42").await?;
/// assert_eq!(response.status(), 200);
/// assert_eq!(calls.load(Ordering::Relaxed), 2);
/// assert_eq!(started.elapsed(), Duration::from_secs(2)); // as the server asked
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RetryLayer<C = RetryErrors> {
    policy: Arc<RetryPolicy>,
    budget: Option<Arc<TpsBudget>>,
    classify: C,
}

impl RetryLayer {
    /// A layer retrying every error as `policy` says, the crate's refusals after their
    /// `retry_after` (see [`RetryErrors`]), with the default retry budget.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
            budget: Some(Arc::new(TpsBudget::default())),
            classify: RetryErrors,
        }
    }
}

impl<C> RetryLayer<C> {
    /// Decides what is retried with `f` instead.
    ///
    /// ```
    /// use resilience::{RetryPolicy, Verdict};
    /// use resilience::tower::RetryLayer;
    ///
    /// // Only timeouts are worth another try.
    /// let layer = RetryLayer::new(RetryPolicy::default()).classify(|r: &Result<u32, std::io::Error>| {
    ///     match r {
    ///         Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Verdict::Retry,
    ///         _ => Verdict::Stop,
    ///     }
    /// });
    /// ```
    pub fn classify<Resp, E, F>(self, f: F) -> RetryLayer<F>
    where
        F: Fn(&Result<Resp, E>) -> Verdict + Clone,
    {
        self.classifier(f)
    }

    /// Decides what is retried with `classifier` instead: [`RetryHttp`], or any
    /// [`RetryClassify`] implementation.
    pub fn classifier<C2>(self, classifier: C2) -> RetryLayer<C2> {
        RetryLayer {
            policy: self.policy,
            budget: self.budget,
            classify: classifier,
        }
    }

    /// Uses `budget` as the retry budget: share one `Arc` between layers to give them one
    /// budget.
    pub fn budget(mut self, budget: Arc<TpsBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// A retry budget of its own: deposits count for `ttl` (1 to 60 s); `min_per_sec` retries a
    /// second are always allowed; beyond those, `retry_percent` of the requests may be retried
    /// (`0.2`: one retry for five requests; 0 to 1000).
    ///
    /// Fails, naming the setting and the value, when one is out of its range.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::RetryPolicy;
    /// use resilience::tower::RetryLayer;
    ///
    /// let layer = RetryLayer::new(RetryPolicy::default()).tps_budget(Duration::from_secs(10), 5, 0.1)?;
    /// let err = RetryLayer::new(RetryPolicy::default())
    ///     .tps_budget(Duration::from_secs(90), 5, 0.1)
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "invalid ttl = 90s for retry budget: must be from 1 s to 60 s");
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn tps_budget(
        self,
        ttl: Duration,
        min_per_sec: u32,
        retry_percent: f32,
    ) -> Result<Self, ConfigError> {
        let invalid = |setting, value, reason: &str| {
            crate::config::invalid("retry budget", setting, value, reason.into())
        };
        if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(60) {
            return Err(invalid(
                "ttl",
                format!("{ttl:?}"),
                "must be from 1 s to 60 s",
            ));
        }
        if min_per_sec >= i32::MAX as u32 {
            return Err(invalid(
                "min_per_sec",
                min_per_sec.to_string(),
                "must be below 2147483647",
            ));
        }
        if !(0.0..=1000.0).contains(&retry_percent) {
            return Err(invalid(
                "retry_percent",
                retry_percent.to_string(),
                "must be from 0 to 1000",
            ));
        }
        Ok(self.budget(Arc::new(TpsBudget::new(ttl, min_per_sec, retry_percent))))
    }

    /// No retry budget: only the policy limits the retries.
    pub fn without_budget(mut self) -> Self {
        self.budget = None;
        self
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The retry budget, if any.
    pub fn retry_budget(&self) -> Option<&Arc<TpsBudget>> {
        self.budget.as_ref()
    }
}

impl<C> fmt::Debug for RetryLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("policy", &self.policy)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl<S, C: Clone> Layer<S> for RetryLayer<C> {
    type Service = RetryService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            policy: Arc::clone(&self.policy),
            budget: self.budget.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// A [`Service`] retrying calls as its [`RetryLayer`] says; made by it.
///
/// `poll_ready` is the inner service's. Each call deposits in the retry budget, runs once,
/// and, while the classifier asks for another try and the policy and the budget allow it,
/// waits, makes a clone of the inner service ready and calls it again with a clone of the
/// request. The outcome is the last attempt's, as the inner service gave it: the error type is
/// the inner service's.
#[derive(Clone)]
pub struct RetryService<S, C = RetryErrors> {
    inner: S,
    policy: Arc<RetryPolicy>,
    budget: Option<Arc<TpsBudget>>,
    classify: C,
}

impl<S, C> RetryService<S, C> {
    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    inner_service_accessors!();
}

impl<S: fmt::Debug, C> fmt::Debug for RetryService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryService")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, C, Req> Service<Req> for RetryService<S, C>
where
    S: Service<Req> + Clone,
    S::Error: fmt::Display,
    C: RetryClassify<S::Response, S::Error> + Clone,
    Req: Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RetryFuture<S, C, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
        let may_retry = self.policy.max_attempts > 1;
        let request = may_retry.then(|| req.clone());
        let future = self.inner.call(req);
        RetryFuture {
            state: Attempt::Called { future },
            request,
            service: may_retry.then(|| self.inner.clone()),
            run: RunState::new(&self.policy),
            policy: Arc::clone(&self.policy),
            budget: self.budget.clone(),
            classify: self.classify.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Response future
// ---------------------------------------------------------------------------------------------

pin_project! {
    /// The future of a [`RetryService`] call: the attempts, and the waits between them.
    ///
    /// Dropping it cancels the attempt in flight or the wait, and makes no further attempt.
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryFuture<S, C, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: Attempt<S::Future>,
        // The request for the next attempt; `None` once no attempt may follow.
        request: Option<Req>,
        service: Option<S>,
        run: RunState,
        policy: Arc<RetryPolicy>,
        budget: Option<Arc<TpsBudget>>,
        classify: C,
    }
}

pin_project! {
    #[project = AttemptProj]
    enum Attempt<F> {
        Called {
            #[pin]
            future: F,
        },
        // Boxed: a timer is large, and only a retried call needs one; the future of a call
        // that succeeds at once stays small and cheap to move.
        Waiting {
            sleep: Pin<Box<tokio::time::Sleep>>,
        },
        Retrying,
    }
}

impl<S: Service<Req>, C, Req> fmt::Debug for RetryFuture<S, C, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            Attempt::Called { .. } => "called",
            Attempt::Waiting { .. } => "waiting",
            Attempt::Retrying => "retrying",
        };
        f.debug_struct("RetryFuture")
            .field("state", &state)
            .field("failed_attempts", &self.run.attempts())
            .finish_non_exhaustive()
    }
}

/// What the retry events say of a response the classifier retried.
struct RetriedResponse;

impl fmt::Display for RetriedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a response classified as a failure")
    }
}

impl<S, C, Req> Future for RetryFuture<S, C, Req>
where
    S: Service<Req>,
    S::Error: fmt::Display,
    C: RetryClassify<S::Response, S::Error>,
    Req: Clone,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                AttemptProj::Called { future } => {
                    let result = ready!(future.poll(cx));
                    let verdict = this.classify.verdict(&result);
                    if verdict == Verdict::Stop && result.is_ok() {
                        return Poll::Ready(result);
                    }
                    let described: &dyn fmt::Display = match &result {
                        Err(e) => e,
                        Ok(_) => &RetriedResponse,
                    };
                    let budget = this.budget.as_deref();
                    let may_retry = || budget.is_none_or(Budget::withdraw);
                    match this
                        .run
                        .after_failure(this.policy, described, verdict, may_retry)
                    {
                        Ok(wait) => this.state.set(Attempt::Waiting {
                            sleep: Box::pin(tokio::time::sleep(wait)),
                        }),
                        Err(_) => return Poll::Ready(result),
                    }
                }
                AttemptProj::Waiting { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state.set(Attempt::Retrying);
                }
                AttemptProj::Retrying => {
                    let service = this.service.as_mut().expect("kept while attempts remain");
                    ready!(service.poll_ready(cx))?;
                    let request = this.request.take().expect("kept while attempts remain");
                    // The attempt about to be made is number `attempts + 1`: keep a clone only
                    // if another may follow it.
                    if this.run.attempts() + 1 < this.policy.max_attempts {
                        *this.request = Some(request.clone());
                    }
                    this.state.set(Attempt::Called {
                        future: service.call(request),
                    });
                }
            }
        }
    }
}
