//! Test support: capture the crate's tracing events.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, Once};

use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One event: its level and its fields, rendered as strings.
#[derive(Debug, Clone)]
pub struct Captured {
    pub level: tracing::Level,
    pub fields: BTreeMap<String, String>,
}

impl Captured {
    pub fn name(&self) -> &str {
        self.fields.get("event").map(String::as_str).unwrap_or("")
    }

    pub fn field(&self, key: &str) -> &str {
        self.fields.get(key).map(String::as_str).unwrap_or_else(|| {
            panic!(
                "event {} has no field {key}: {:?}",
                self.name(),
                self.fields
            )
        })
    }
}

#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<Captured>>>);

impl Events {
    pub fn all(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }

    /// The events named `name`, in order.
    pub fn named(&self, name: &str) -> Vec<Captured> {
        self.all()
            .into_iter()
            .filter(|e| e.name() == name)
            .collect()
    }

    /// The names of the events, in order.
    pub fn names(&self) -> Vec<String> {
        self.all().iter().map(|e| e.name().to_owned()).collect()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

thread_local! {
    /// The capture of this thread, if one is running.
    static CURRENT: RefCell<Option<Events>> = const { RefCell::new(None) };
}

/// The one subscriber of the process: routes each event to its thread's capture.
///
/// A process-wide subscriber, installed once, rather than one `set_default` per test: with
/// scoped subscribers, a test registering a callsite while another test installs its
/// subscriber can leave that callsite cached as "never enabled", and the other test then misses
/// its events.
struct Capture;

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "resilience" {
            return;
        }
        CURRENT.with(|current| {
            if let Some(events) = &*current.borrow() {
                let mut fields = BTreeMap::new();
                event.record(&mut Fields(&mut fields));
                events.0.lock().unwrap().push(Captured {
                    level: *event.metadata().level(),
                    fields,
                });
            }
        });
    }
}

/// Ends a capture when dropped.
pub struct CaptureGuard(Option<Events>);

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// Captures the crate's events on this thread until the guard is dropped.
pub fn capture() -> (Events, CaptureGuard) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(Capture);
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the tests");
    });
    // Callsites registered while the subscriber was being installed are looked at again.
    tracing::callsite::rebuild_interest_cache();
    let events = Events::default();
    let previous = CURRENT.with(|current| current.borrow_mut().replace(events.clone()));
    (events, CaptureGuard(previous))
}

/// An environment of fixed variables, for `build_with_env` and the like.
pub fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

/// Waits (`within` at most, on the host clock) until `condition` holds, asking every 10 ms.
pub async fn eventually(
    what: &str,
    within: std::time::Duration,
    mut condition: impl FnMut() -> bool,
) {
    let deadline = std::time::Instant::now() + within;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "not within {} s: {what}",
            within.as_secs_f64()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Takes `n` tokens from `limiter` one by one without waiting, trying again 10 ms after a
/// refusal, 200 tries at most: how many it took.
pub async fn spend(limiter: &resilience::limit::RateLimiter, n: u32) -> u32 {
    let mut spent = 0;
    for _ in 0..200 {
        if spent == n {
            break;
        }
        if limiter.try_acquire().is_ok() {
            spent += 1;
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    spent
}
