//! The breakers written in `#[circuit_breaker]` attributes, known from the start of the program.
//!
//! Each attribute leaves a [`BreakerSite`] in a `static` of its function, with its name, where
//! it is written and the settings written there, and submits it to a list that the linker
//! gathers ([`inventory`]: a constructor per site adds it to the list before `main`, on Linux,
//! macOS, Windows, the BSDs and WebAssembly). The global registry registers every site when it
//! is first used, so that [`registry()`](crate::registry()) lists them before their first call,
//! and a breaker looked up by name (`CircuitBreakerLayer::named`, the health monitor) gets the
//! attribute's settings whatever runs first. The site's `static` is also its call site's cache:
//! a call reads the breaker with one atomic load and no map lookup.
//!
//! Names: a written name (a literal or a constant) is shared by every site that writes it; the
//! first site (by file and line) sets the configuration, and [`check`] (run by
//! [`init()`](crate::init())) reports sites that set it differently. A site without a name is
//! named after its module and function (`billing::zoho::get_account`, raw identifiers without
//! their `r#`); when that name is taken, by a written name or by a function of the same name
//! earlier in the module (methods of two types), the site is registered as the first free of
//! `<name>::2`, `<name>::3`, ..., so that a function without a name never shares a breaker,
//! and [`check`] reports it.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::panic::Location;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::breaker::{CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerConfig};
use crate::config::WrittenValues;
use crate::error::ConfigError;
use crate::name::Name;
use crate::registry::CircuitBreakerManager;

mod limits;

pub use limits::{BulkheadSite, LimitSiteRef, RateLimiterSite};

/// The settings written in an attribute; `None` where not written.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Written {
    failure_threshold: Option<u32>,
    recovery_timeout: Option<Duration>,
    half_open_max_calls: Option<u32>,
    success_threshold: Option<u32>,
    window_size: Option<u32>,
    minimum_calls: Option<u32>,
    failure_rate_threshold: Option<f64>,
}

impl fmt::Display for Written {
    /// As written in the attribute: `failure_threshold = 3, recovery_timeout = 30s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let counts = [
            ("failure_threshold", self.failure_threshold),
            ("half_open_max_calls", self.half_open_max_calls),
            ("success_threshold", self.success_threshold),
            ("window_size", self.window_size),
            ("minimum_calls", self.minimum_calls),
        ];
        for (key, value) in counts {
            if let Some(v) = value {
                parts.push(format!("{key} = {v}"));
            }
        }
        if let Some(d) = self.recovery_timeout {
            parts.push(format!(
                "recovery_timeout = {}",
                humantime::format_duration(d)
            ));
        }
        if let Some(r) = self.failure_rate_threshold {
            parts.push(format!("failure_rate_threshold = {r}"));
        }
        if parts.is_empty() {
            f.write_str("no settings")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// A `#[circuit_breaker]` attribute: its breaker's name and settings, where it is written, and
/// its breaker once registered.
pub struct BreakerSite {
    place: Place,
    settings: Written,
    breaker: OnceLock<Arc<CircuitBreaker>>,
}

impl BreakerSite {
    /// A site whose attribute names its breaker, written where this is called. Fails const
    /// evaluation on a name that [`validate_name`](crate::config::validate_name) would refuse
    /// (for a name from a constant; the attribute checks a literal itself).
    #[track_caller]
    pub const fn named(name: &'static str) -> Self {
        if let Err(problem) = check_name(name, false) {
            panic!("{}", problem);
        }
        Self::new(Place::at(name, true, Location::caller()))
    }

    /// A site without a name, written where this is called: `default` is its module path and
    /// function name, as `module_path!()` writes them (a raw identifier with its `r#`). Fails
    /// const evaluation when the name, without the `r#` of raw identifiers, would not pass
    /// [`validate_name`](crate::config::validate_name): a module whose name is not ASCII.
    #[track_caller]
    pub const fn unnamed(default: &'static str) -> Self {
        if check_name(default, true).is_err() {
            panic!(
                "invalid default breaker name: the module path and the function's name may contain only ASCII letters, digits and `_`, so that its environment variables CIRCUIT_BREAKER_<NAME>_<KEY> exist; name the breaker with `name = \"...\"`"
            );
        }
        Self::new(Place::at(default, false, Location::caller()))
    }

    const fn new(place: Place) -> Self {
        Self {
            place,
            settings: Written {
                failure_threshold: None,
                recovery_timeout: None,
                half_open_max_calls: None,
                success_threshold: None,
                window_size: None,
                minimum_calls: None,
                failure_rate_threshold: None,
            },
            breaker: OnceLock::new(),
        }
    }

    /// `failure_threshold = n`.
    pub const fn failure_threshold(mut self, n: u32) -> Self {
        self.settings.failure_threshold = Some(n);
        self
    }

    /// `recovery_timeout = d`.
    pub const fn recovery_timeout(mut self, d: Duration) -> Self {
        self.settings.recovery_timeout = Some(d);
        self
    }

    /// `half_open_max_calls = n`.
    pub const fn half_open_max_calls(mut self, n: u32) -> Self {
        self.settings.half_open_max_calls = Some(n);
        self
    }

    /// `success_threshold = n`.
    pub const fn success_threshold(mut self, n: u32) -> Self {
        self.settings.success_threshold = Some(n);
        self
    }

    /// `window_size = n`.
    pub const fn window_size(mut self, n: u32) -> Self {
        self.settings.window_size = Some(n);
        self
    }

    /// `minimum_calls = n`.
    pub const fn minimum_calls(mut self, n: u32) -> Self {
        self.settings.minimum_calls = Some(n);
        self
    }

    /// `failure_rate_threshold = rate`.
    pub const fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.settings.failure_rate_threshold = Some(rate);
        self
    }

    /// The site's breaker: one atomic load once registered.
    #[inline]
    pub fn breaker(&'static self) -> &'static CircuitBreaker {
        self.registered()
    }

    fn builder(&self, name: &Name) -> CircuitBreakerBuilder {
        let s = &self.settings;
        let mut b = CircuitBreaker::builder(cow(name));
        if let Some(n) = s.failure_threshold {
            b = b.failure_threshold(n);
        }
        if let Some(d) = s.recovery_timeout {
            b = b.recovery_timeout(d);
        }
        if let Some(n) = s.half_open_max_calls {
            b = b.half_open_max_calls(n);
        }
        if let Some(n) = s.success_threshold {
            b = b.success_threshold(n);
        }
        if let Some(n) = s.window_size {
            b = b.window_size(n);
        }
        if let Some(n) = s.minimum_calls {
            b = b.minimum_calls(n);
        }
        if let Some(r) = s.failure_rate_threshold {
            b = b.failure_rate_threshold(r);
        }
        b
    }
}

/// What every site has, whatever it limits: its name and where it is written.
#[derive(Debug, Clone, Copy)]
struct Place {
    name: &'static str,
    written_name: bool,
    location: &'static Location<'static>,
}

impl Place {
    const fn at(
        name: &'static str,
        written_name: bool,
        location: &'static Location<'static>,
    ) -> Self {
        Self {
            name,
            written_name,
            location,
        }
    }

    /// The name the attribute gives: the written name, or the default name without the `r#` of
    /// raw identifiers (`module_path!()` keeps it: `billing::r#gen::get` is `billing::gen::get`).
    fn given_name(&self) -> Name {
        if !self.written_name && self.name.contains("r#") {
            Name::Shared(self.name.replace("r#", "").into())
        } else {
            Name::Static(self.name)
        }
    }

    /// Where the attribute is written: `src/zoho.rs:42`.
    fn place(&self) -> String {
        format!("{}:{}", self.location.file(), self.location.line())
    }

    /// The order of sites: by file, line and column.
    fn order(&self) -> (&'static str, u32, u32) {
        (
            self.location.file(),
            self.location.line(),
            self.location.column(),
        )
    }
}

/// What [`names`], [`check_sites`] and [`register_each`] need of a site of any kind, and its
/// call site's read of what it registers.
trait Site: Sized + 'static {
    /// The attribute, as its messages write it: `#[circuit_breaker]`.
    const ATTRIBUTE: &'static str;
    /// What it registers, as its messages write it: `breaker`.
    const NOUN: &'static str;
    /// The settings written in the attribute, as its messages write them.
    type Settings: PartialEq + fmt::Display;
    /// What it registers: a breaker, a bulkhead, a rate limiter.
    type Limit: 'static;
    fn place(&self) -> &Place;
    fn settings(&self) -> &Self::Settings;
    /// Where the site keeps what it registered.
    fn cell(&self) -> &OnceLock<Arc<Self::Limit>>;
    /// Registers the site under `name`; whatever the configuration, one of that name ends up
    /// in `manager`.
    fn register(&self, manager: &CircuitBreakerManager, name: Name) -> Arc<Self::Limit>;

    /// What the site registered: one atomic load once registered.
    #[inline]
    fn registered(&'static self) -> &'static Self::Limit {
        match self.cell().get() {
            Some(limit) => limit,
            None => self.first_use(),
        }
    }

    #[cold]
    fn first_use(&'static self) -> &'static Self::Limit {
        // Building the registry registers every site collected at link time, this one included.
        let registry = crate::registry();
        // A site the platform did not collect is registered on its own.
        self.cell()
            .get_or_init(|| self.register(registry, self.place().given_name()))
    }
}

/// Registers each of `sites` in `manager` under the name [`names`] gives it. A site already in
/// use keeps what it has (only when registered on its own first).
fn register_each<S: Site>(manager: &CircuitBreakerManager, sites: &[&'static S]) {
    for (site, name) in sites.iter().zip(names(sites)) {
        let _ = site.cell().set(site.register(manager, name));
    }
}

impl Site for BreakerSite {
    const ATTRIBUTE: &'static str = "#[circuit_breaker]";
    const NOUN: &'static str = "breaker";
    fn place(&self) -> &Place {
        &self.place
    }
    fn settings(&self) -> &Self::Settings {
        &self.settings
    }
    type Settings = Written;
    type Limit = CircuitBreaker;
    #[inline]
    fn cell(&self) -> &OnceLock<Arc<CircuitBreaker>> {
        &self.breaker
    }
    fn register(&self, manager: &CircuitBreakerManager, name: Name) -> Arc<CircuitBreaker> {
        register(manager, self, name)
    }
}

fn cow(name: &Name) -> Cow<'static, str> {
    match name {
        Name::Static(s) => Cow::Borrowed(s),
        Name::Shared(s) => Cow::Owned(s.to_string()),
    }
}

/// A site, as the linker gathers them.
pub struct SiteRef(pub &'static BreakerSite);

inventory::collect!(SiteRef);

/// The name rule of [`validate_name`](crate::config::validate_name), in a const evaluation: the
/// error is the end of "invalid breaker name: it ...". With `raw`, a path segment may start with
/// the `r#` of a raw identifier, which is not part of the name.
const fn check_name(name: &str, raw: bool) -> Result<(), &'static str> {
    let bytes = name.as_bytes();
    // Where the name starts: after the `r#` of its first segment.
    let start = if raw && bytes.len() > 2 && bytes[0] == b'r' && bytes[1] == b'#' {
        2
    } else {
        0
    };
    if bytes.len() == start {
        return Err(
            "invalid breaker name: it must not be empty, so that its environment variables CIRCUIT_BREAKER_<NAME>_<KEY> exist",
        );
    }
    if bytes[start].is_ascii_digit() {
        return Err(
            "invalid breaker name: it must not start with a digit, so that its environment variables CIRCUIT_BREAKER_<NAME>_<KEY> exist",
        );
    }
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b':' {
            // `::` between two path segments.
            let pair = i + 1 < bytes.len() && bytes[i + 1] == b':';
            let between =
                i > start && i + 2 < bytes.len() && bytes[i - 1] != b':' && bytes[i + 2] != b':';
            if !(pair && between) {
                return Err(
                    "invalid breaker name: it may contain only ASCII letters, digits and `_`, with `::` between path segments, so that its environment variables CIRCUIT_BREAKER_<NAME>_<KEY> exist",
                );
            }
            i += 2;
            // The next segment's `r#`, if any.
            if raw && i + 2 < bytes.len() && bytes[i] == b'r' && bytes[i + 1] == b'#' {
                i += 2;
            }
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b == b'_') {
            return Err(
                "invalid breaker name: it may contain only ASCII letters, digits and `_`, with `::` between path segments, so that its environment variables CIRCUIT_BREAKER_<NAME>_<KEY> exist",
            );
        }
        i += 1;
    }
    Ok(())
}

/// Every site linked into the program, in the order of their places (file, then line).
fn collected() -> Vec<&'static BreakerSite> {
    let mut sites: Vec<&'static BreakerSite> = inventory::iter::<SiteRef>
        .into_iter()
        .map(|s| s.0)
        .collect();
    sites.sort_by_key(|site| site.place.order());
    sites
}

/// The name each site registers under: a written name as written; a default name as it is,
/// unless a site written before (in the order given) or any written name took it: then the
/// first of `<name>::2`, `<name>::3`, ... that none took. A function without a name thus never
/// shares a breaker.
fn names<S: Site>(sites: &[&'static S]) -> Vec<Name> {
    let given: Vec<(bool, Name)> = sites
        .iter()
        .map(|site| (site.place().written_name, site.place().given_name()))
        .collect();
    names_of(&given)
}

/// [`names`] of sites given as (whether the name is written, the name given).
fn names_of(sites: &[(bool, Name)]) -> Vec<Name> {
    let mut taken: HashSet<Name> = sites
        .iter()
        .filter(|(written, _)| *written)
        .map(|(_, name)| name.clone())
        .collect();
    let mut next: HashMap<Name, u32> = HashMap::new();
    sites
        .iter()
        .map(|(written, name)| {
            if *written {
                return name.clone();
            }
            let n = next.entry(name.clone()).or_insert(1);
            loop {
                let candidate = match *n {
                    1 => name.clone(),
                    n => Name::Shared(format!("{name}::{n}").into()),
                };
                *n += 1;
                if taken.insert(candidate.clone()) {
                    return candidate;
                }
            }
        })
        .collect()
}

/// The values written for `success_threshold` and `half_open_max_calls` by each breaker of the
/// sites linked into the program, by the name it registers under (a name written in several
/// attributes: the first site's, the one that sets its configuration).
pub(crate) fn written_pairs() -> Vec<(Name, WrittenValues)> {
    written_pairs_of(&collected())
}

fn written_pairs_of(sites: &[&'static BreakerSite]) -> Vec<(Name, WrittenValues)> {
    let mut seen = HashSet::new();
    sites
        .iter()
        .zip(names(sites))
        .filter(|(_, name)| seen.insert(name.clone()))
        .map(|(site, name)| {
            let s = &site.settings;
            (name, (s.success_threshold, s.half_open_max_calls))
        })
        .collect()
}

/// Registers every collected site in `manager` (the global registry, as it is built).
pub(crate) fn register_all(manager: &CircuitBreakerManager) {
    register_each(manager, &collected());
    limits::register_all(manager);
}

/// Registers a site's breaker; whatever the configuration, a breaker of that name ends up in
/// `manager`.
fn register(
    manager: &CircuitBreakerManager,
    site: &BreakerSite,
    name: Name,
) -> Arc<CircuitBreaker> {
    match manager.register(site.builder(&name)) {
        Ok(breaker) => breaker,
        Err(error) => {
            // The attribute checked the written values at compile time, so this is not
            // expected; the breaker is still registered, with the defaults.
            tracing::error!(
                target: "resilience",
                event = "attribute_config_error",
                circuit_breaker = name.as_str(),
                place = %site.place.place(),
                error = %error,
                "invalid circuit breaker configuration; using the defaults"
            );
            manager
                .register(CircuitBreaker::builder(cow(&name)).ignore_env())
                .unwrap_or_else(|_| {
                    Arc::new(CircuitBreaker::from_parts(
                        name,
                        CircuitBreakerConfig::default(),
                        None,
                    ))
                })
        }
    }
}

/// The first problem among the sites linked into the program, in their order: two that give
/// one name different settings, a function without a name whose default name another attribute
/// writes, or two functions of one module with one default name.
pub(crate) fn check() -> Result<(), ConfigError> {
    check_sites(&collected())?;
    limits::check()
}

/// The first problem among `sites` of one kind, in their order: two that give one name
/// different settings, a function without a name whose default name another attribute writes,
/// or two functions of one module with one default name.
fn check_sites<S: Site>(sites: &[&'static S]) -> Result<(), ConfigError> {
    let (attribute, noun) = (S::ATTRIBUTE, S::NOUN);
    let problem = |name: String, reason: String| ConfigError::InvalidSetting {
        setting: "name",
        value: name,
        reason,
        context: String::new(),
    };
    let mut written: HashMap<&str, &S> = HashMap::new();
    for &site in sites.iter().filter(|site| site.place().written_name) {
        written.entry(site.place().name).or_insert(site);
    }
    let mut defaults: HashMap<Name, &S> = HashMap::new();
    for (&site, registered) in sites.iter().zip(names(sites)) {
        let place = site.place();
        if place.written_name {
            let earlier = written[place.name];
            if earlier.settings() != site.settings() {
                return Err(problem(
                    format!("{:?}", place.name),
                    format!(
                        "two {attribute} attributes give this {noun} different settings: {} \
                         ({}) and {} ({}); the first is used. Write the same settings in both, \
                         or give them different names",
                        earlier.place().place(),
                        earlier.settings(),
                        place.place(),
                        site.settings()
                    ),
                ));
            }
            continue;
        }
        let name = place.given_name();
        if let Some(named) = written.get(name.as_str()) {
            return Err(problem(
                format!("{name:?}"),
                format!(
                    "the {attribute} attribute at {} writes this name, and it is the default \
                     name of the function at {}, which writes none: that function is \
                     registered as \"{registered}\" so that the two do not share a {noun}. \
                     Write the same `name = \"...\"` on both to share one, or another name on \
                     the function",
                    named.place().place(),
                    place.place(),
                ),
            ));
        }
        if let Some(earlier) = defaults.get(&name) {
            return Err(problem(
                format!("{name:?}"),
                format!(
                    "two {attribute} functions of one module have this default name, {} and {} \
                     (the second is registered as \"{registered}\"); give each a name with \
                     `name = \"...\"`",
                    earlier.place().place(),
                    place.place(),
                ),
            ));
        }
        defaults.insert(name, site);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leak(site: BreakerSite) -> &'static BreakerSite {
        Box::leak(Box::new(site))
    }

    fn place(site: &BreakerSite) -> String {
        site.place.place()
    }

    #[test]
    fn the_name_rule_holds_in_const_evaluation() {
        for good in ["tier1_mcp", "T", "billing::zoho::get", "_x::y2"] {
            assert_eq!(check_name(good, false), Ok(()), "{good}");
            assert_eq!(check_name(good, true), Ok(()), "{good}");
            assert_eq!(crate::config::validate_name(good), Ok(()), "{good}");
        }
        for bad in [
            "", "1x", "zoho-mcp", "a:b", "a::", "::a", "a:::b", "a::::b", "é",
        ] {
            assert!(check_name(bad, false).is_err(), "{bad}");
            assert!(check_name(bad, true).is_err(), "{bad}");
            assert!(crate::config::validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_default_name_may_hold_raw_identifiers_and_registers_without_their_prefix() {
        for raw in ["r#gen::get", "app::r#gen::get", "app::r#gen::r#try"] {
            assert_eq!(check_name(raw, true), Ok(()), "{raw}");
            assert!(check_name(raw, false).is_err(), "{raw}");
        }
        for bad in [
            "r#",
            "app::r#",
            "app::r#gen::é",
            "café::get",
            "r#::a",
            "app::r#gen::",
        ] {
            assert!(check_name(bad, true).is_err(), "{bad}");
        }
        let site = leak(BreakerSite::unnamed("app::r#gen::get").failure_threshold(2));
        let manager = CircuitBreakerManager::new();
        register_each(&manager, &[site]);
        assert_eq!(manager.names(), ["app::gen::get"]);
        assert_eq!(
            manager
                .get("app::gen::get")
                .unwrap()
                .config()
                .failure_threshold,
            2
        );
    }

    #[test]
    fn a_default_name_that_another_attribute_writes_gets_a_breaker_of_its_own() {
        // `name = "app::fetch"` beside `fetch` without a name in `app`, in either order.
        let written = leak(BreakerSite::named("app::fetch").failure_threshold(3));
        let unnamed = leak(BreakerSite::unnamed("app::fetch"));
        for sites in [[written, unnamed], [unnamed, written]] {
            assert_eq!(
                names(&sites),
                sites.map(|s| Name::Static(if s.place.written_name {
                    "app::fetch"
                } else {
                    "app::fetch::2"
                }))
            );
            let error = check_sites(&sites).unwrap_err().to_string();
            let places = format!(
                "the #[circuit_breaker] attribute at {} writes this name, and it is the default \
                 name of the function at {}, which writes none",
                place(written),
                place(unnamed)
            );
            assert!(error.contains(&places), "{error}");
            assert!(error.contains("registered as \"app::fetch::2\""), "{error}");
        }
        // `name = "app::get::2"` beside two functions `get` without a name in `app`.
        let taken = leak(BreakerSite::named("app::get::2"));
        let first = leak(BreakerSite::unnamed("app::get"));
        let second = leak(BreakerSite::unnamed("app::get"));
        let sites = [first, taken, second];
        assert_eq!(
            names(&sites)
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>(),
            ["app::get", "app::get::2", "app::get::3"]
        );
        let error = check_sites(&sites).unwrap_err().to_string();
        assert!(error.contains("registered as \"app::get::3\""), "{error}");
        let manager = CircuitBreakerManager::new();
        register_each(&manager, &sites);
        assert_eq!(manager.names(), ["app::get", "app::get::2", "app::get::3"]);
    }

    #[test]
    fn the_values_written_for_the_rule_are_known_by_registered_name() {
        let a = leak(BreakerSite::named("app_pair").half_open_max_calls(5));
        let b = leak(BreakerSite::named("app_pair").success_threshold(1));
        let c = leak(
            BreakerSite::unnamed("app::r#gen::get")
                .success_threshold(1)
                .half_open_max_calls(1),
        );
        let d = leak(BreakerSite::unnamed("app::r#gen::get"));
        assert_eq!(
            written_pairs_of(&[a, b, c, d]),
            [
                (Name::Static("app_pair"), (None, Some(5))),
                (Name::Static("app::gen::get"), (Some(1), Some(1))),
                (Name::Static("app::gen::get::2"), (None, None)),
            ]
        );
    }

    #[test]
    fn a_site_whose_configuration_fails_at_run_time_is_still_registered() {
        // Not writable in an attribute (a compile error there); built by hand.
        let site = leak(BreakerSite::named("sites_unworkable").success_threshold(9));
        let manager = CircuitBreakerManager::new();
        register_each(&manager, &[site]);
        let registered = manager.get("sites_unworkable").expect("registered");
        assert_eq!(*registered.config(), CircuitBreakerConfig::default());
        assert!(std::ptr::eq(
            site.breaker.get().unwrap().as_ref(),
            registered.as_ref()
        ));
    }

    #[test]
    fn one_default_name_in_two_places_gives_two_breakers() {
        let a = leak(BreakerSite::unnamed("app::get").failure_threshold(2));
        let b = leak(BreakerSite::unnamed("app::get"));
        let manager = CircuitBreakerManager::new();
        register_each(&manager, &[a, b]);
        assert_eq!(manager.names(), ["app::get", "app::get::2"]);
        assert_eq!(a.breaker.get().unwrap().config().failure_threshold, 2);
        assert_eq!(b.breaker.get().unwrap().config().failure_threshold, 5);
        let error = check_sites(&[a, b]).unwrap_err().to_string();
        let places = format!("{} and {}", place(a), place(b));
        assert!(error.contains(&places), "{error}");
        assert!(
            place(a).starts_with("resilience/src/sites/mod.rs:"),
            "{}",
            place(a)
        );
    }

    #[test]
    fn one_written_name_with_two_settings_is_reported() {
        let c = leak(BreakerSite::named("app_shared").failure_threshold(2));
        let d = leak(BreakerSite::named("app_shared").failure_threshold(2));
        assert!(check_sites(&[c, d]).is_ok());
        let e = leak(BreakerSite::named("app_shared"));
        let error = check_sites(&[c, d, e]).unwrap_err().to_string();
        let places = format!(
            "{} (failure_threshold = 2) and {} (no settings)",
            place(c),
            place(e)
        );
        assert!(error.contains(&places), "{error}");
    }
}
