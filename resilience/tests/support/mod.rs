//! Test support: capture the crate's tracing events.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

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

struct Capture(Events);

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "resilience" {
            return;
        }
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            fields,
        });
    }
}

/// Captures the crate's events on this thread until the guard is dropped.
pub fn capture() -> (Events, tracing::subscriber::DefaultGuard) {
    let events = Events::default();
    let subscriber = tracing_subscriber::registry().with(Capture(events.clone()));
    let guard = tracing::subscriber::set_default(subscriber);
    (events, guard)
}
