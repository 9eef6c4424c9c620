//! Interfaces and their methods, superclasses' methods included.

/// A method a capability of some interface answers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct Method {
    /// The name (`evaluate`).
    pub(crate) name: String,
    /// The interface that declares it: for an inherited method, the superclass. This, with
    /// `ordinal`, is what a Cap'n Proto call names.
    pub(crate) interface_id: u64,
    /// The method's ordinal in its declaring interface.
    pub(crate) ordinal: u16,
    /// The params struct's node ID.
    pub(crate) params: u64,
    /// The results struct's node ID.
    pub(crate) results: u64,
}

/// An interface node, with the methods of all its superclasses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Interface {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) methods: Vec<Method>,
}

impl Interface {
    /// The node ID.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The display name (`calculator.capnp:Calculator`).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Its methods: its own in ordinal order, then each superclass's (depth first, each
    /// superclass once).
    pub(crate) fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// The method called `name`; its own methods win over a superclass's of the same name.
    pub(crate) fn method(&self, name: &str) -> Option<&Method> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// The method, if the interface has exactly one (so a Cap'n Web function can stand for it).
    pub(crate) fn single_method(&self) -> Option<&Method> {
        match self.methods.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }
}
