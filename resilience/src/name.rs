//! A breaker's name, cheap to copy into every rejection.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// A name written in the code is borrowed for `'static` and copied as a pointer; any other is
/// shared behind an `Arc`. Cloning never allocates, and a `'static` name never touches a
/// reference count: a rejection carries its breaker's name at the cost of a copy.
///
/// Compares, hashes and prints as the `str` it holds.
#[derive(Clone)]
pub(crate) enum Name {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Name::Static(s) => s,
            Name::Shared(s) => s,
        }
    }

    /// The name as an `Arc<str>` (allocates for a `'static` name).
    pub(crate) fn to_arc(&self) -> Arc<str> {
        match self {
            Name::Static(s) => Arc::from(*s),
            Name::Shared(s) => Arc::clone(s),
        }
    }
}

impl From<Cow<'static, str>> for Name {
    fn from(name: Cow<'static, str>) -> Self {
        match name {
            Cow::Borrowed(s) => Name::Static(s),
            Cow::Owned(s) => Name::Shared(s.into()),
        }
    }
}

impl From<Arc<str>> for Name {
    fn from(name: Arc<str>) -> Self {
        Name::Shared(name)
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn static_and_shared_names_are_the_same_name() {
        let literal = Name::from(Cow::Borrowed("tier1_mcp"));
        let owned = Name::from(Cow::<'static, str>::Owned("tier1_mcp".to_owned()));
        assert!(matches!(literal, Name::Static(_)));
        assert!(matches!(owned, Name::Shared(_)));
        assert_eq!(literal, owned);
        assert_ne!(literal, Name::from(Arc::<str>::from("tier2_sdk")));
        let set: HashSet<Name> = [literal.clone(), owned.clone()].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert!(set.contains("tier1_mcp"));
        assert_eq!(format!("{literal} {owned:?}"), "tier1_mcp \"tier1_mcp\"");
        assert_eq!(&*literal.to_arc(), "tier1_mcp");
        assert_eq!(literal.len(), 9);
    }
}
