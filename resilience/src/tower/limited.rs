//! The response future shared by [`BulkheadService`](super::BulkheadService) and
//! [`RateLimitService`](super::RateLimitService): take the limit, then call the inner service,
//! holding what the limit gave for as long as the call runs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_service::Service;

use crate::error::BoxError;

pin_project! {
    /// The future of a call through a limit: refused at once, running in its slot (or on its
    /// tokens), or waiting for them with the ready inner service and the request in hand.
    ///
    /// `A` is the wait (the limit's acquire future), `G` what the running call holds (a
    /// bulkhead's slot, freed when the call completes or this future is dropped).
    ///
    /// Named through [`BulkheadFuture`](super::BulkheadFuture) and
    /// [`RateLimitFuture`](super::RateLimitFuture).
    #[must_use = "futures do nothing unless polled"]
    pub struct LimitedFuture<A, G, S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<A, G, S, Req, S::Future>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<A, G, S, Req, F> {
        Refused {
            error: Option<BoxError>,
        },
        Waiting {
            #[pin]
            acquire: A,
            service: Option<S>,
            request: Option<Req>,
        },
        Running {
            #[pin]
            future: F,
            // Dropped once the call completes: the slot is freed then, not when the caller
            // gets round to dropping the future.
            held: Option<G>,
        },
    }
}

impl<A, G, S: Service<Req>, Req> LimitedFuture<A, G, S, Req> {
    /// Refused at once.
    pub(super) fn refused(error: BoxError) -> Self {
        LimitedFuture {
            state: State::Refused { error: Some(error) },
        }
    }

    /// Admitted at once: the inner call runs, holding `held`.
    pub(super) fn running(future: S::Future, held: G) -> Self {
        LimitedFuture {
            state: State::Running {
                future,
                held: Some(held),
            },
        }
    }

    /// Waits on `acquire`, then calls `service` (ready already) with `request`.
    fn waiting(acquire: A, service: S, request: Req) -> Self {
        LimitedFuture {
            state: State::Waiting {
                acquire,
                service: Some(service),
                request: Some(request),
            },
        }
    }

    /// A call through a limit whose `max_wait` is zero (`no_wait`) or not. Without a wait, the
    /// limit is taken (or refused) now by `try_now` and `inner` called at once. With one, the
    /// call may wait: the ready `inner` goes with the future, which waits on `acquire()`, and a
    /// clone stays for the next call.
    #[inline]
    pub(super) fn call<E: Into<BoxError>>(
        inner: &mut S,
        request: Req,
        no_wait: bool,
        try_now: impl FnOnce() -> Result<G, E>,
        acquire: impl FnOnce() -> A,
    ) -> Self
    where
        S: Clone,
    {
        if no_wait {
            return match try_now() {
                Ok(held) => Self::running(inner.call(request), held),
                Err(refused) => Self::refused(refused.into()),
            };
        }
        let clone = inner.clone();
        let ready = std::mem::replace(inner, clone);
        Self::waiting(acquire(), ready, request)
    }
}

impl<A, G, S: Service<Req>, Req> fmt::Debug for LimitedFuture<A, G, S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Refused { .. } => "refused",
            State::Waiting { .. } => "waiting",
            State::Running { held: Some(_), .. } => "running",
            State::Running { held: None, .. } => "done",
        };
        f.debug_struct("LimitedFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<A, G, R, S, Req> Future for LimitedFuture<A, G, S, Req>
where
    A: Future<Output = Result<G, R>>,
    R: Into<BoxError>,
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Refused { error } => {
                    let error = error.take().expect("polled after completion");
                    return Poll::Ready(Err(error));
                }
                StateProj::Waiting {
                    acquire,
                    service,
                    request,
                } => {
                    let held = ready!(acquire.poll(cx)).map_err(Into::into)?;
                    let mut service = service.take().expect("polled after completion");
                    let request = request.take().expect("polled after completion");
                    // The service was made ready by `poll_ready` before `call` moved it here.
                    let future = service.call(request);
                    state.set(State::Running {
                        future,
                        held: Some(held),
                    });
                }
                StateProj::Running { future, held } => {
                    let result = ready!(future.poll(cx));
                    drop(held.take());
                    return Poll::Ready(result.map_err(Into::into));
                }
            }
        }
    }
}
