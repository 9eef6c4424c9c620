//! Schemas loaded at run time from a `CodeGeneratorRequest`.
//!
//! capnp's own reflection (`introspect`, `dynamic_struct`) needs schemas compiled into the
//! program (`&'static` data and `fn` pointers), so this module copies what the mapping needs
//! out of a request, as `capnp compile -o-` writes it, into plain owned Rust values.
//!
//! Generics are not followed: a generic parameter (and any `AnyPointer`) is
//! [`FieldType::AnyPointer`], opaque to the mapping, whatever a brand binds it to.

mod error;
mod interface;
mod load;
mod path;
#[cfg(test)]
pub(crate) mod tests;
mod types;

use std::collections::HashMap;

pub(crate) use error::SchemaError;
pub(crate) use interface::{Interface, Method};
pub(crate) use types::{DefaultValue, EnumSchema, Field, FieldKind, FieldType, StructSchema};

/// The structs, enums and interfaces of a compiled schema, by node ID.
#[derive(Clone, Debug, Default)]
pub(crate) struct Schema {
    structs: HashMap<u64, StructSchema>,
    enums: HashMap<u64, EnumSchema>,
    interfaces: HashMap<u64, Interface>,
}

impl Schema {
    /// Loads a serialized, unpacked `CodeGeneratorRequest` (what `capnp compile -o-` writes).
    ///
    /// # Errors
    /// [`SchemaError::Read`] when the bytes are not such a message, [`SchemaError::Node`] when
    /// a node in it is malformed.
    pub(crate) fn from_request_bytes(bytes: &[u8]) -> Result<Schema, SchemaError> {
        // `read_message` copies into owned, aligned segments: `bytes` may sit anywhere.
        let message =
            capnp::serialize::read_message(&mut &bytes[..], capnp::message::ReaderOptions::new())
                .map_err(SchemaError::Read)?;
        let request = message
            .get_root::<capnp::schema_capnp::code_generator_request::Reader<'_>>()
            .map_err(SchemaError::Read)?;
        Schema::from_request(request)
    }

    /// Loads the nodes of a `CodeGeneratorRequest` already read.
    ///
    /// # Errors
    /// As [`Schema::from_request_bytes`].
    pub(crate) fn from_request(
        request: capnp::schema_capnp::code_generator_request::Reader<'_>,
    ) -> Result<Schema, SchemaError> {
        let mut nodes = load::Nodes::read(request)?;
        nodes.check_layouts()?;
        nodes.inherit();
        Ok(Schema {
            structs: nodes.structs,
            enums: nodes.enums,
            interfaces: nodes.interfaces,
        })
    }

    /// The interface of node `id`.
    pub(crate) fn interface(&self, id: u64) -> Option<&Interface> {
        self.interfaces.get(&id)
    }

    /// The interface called `name`: its display name (`calculator.capnp:Calculator`), its
    /// scoped name (`Calculator.Value`) or its short name (`Value`). A short name two
    /// interfaces share finds neither (`None`): use a longer one.
    pub(crate) fn interface_by_name(&self, name: &str) -> Option<&Interface> {
        let scoped = |i: &&Interface| i.name.split_once(':').map(|(_, s)| s) == Some(name);
        let short = |i: &&Interface| i.name.rsplit([':', '.']).next() == Some(name);
        let all = || self.interfaces.values();
        if let Some(found) = all().find(|i| i.name == name) {
            return Some(found);
        }
        for test in [&scoped as &dyn Fn(&&Interface) -> bool, &short] {
            let mut matches = all().filter(|i| test(i));
            if let Some(first) = matches.next() {
                return matches.next().is_none().then_some(first);
            }
        }
        None
    }

    /// The struct (or group) of node `id`.
    pub(crate) fn structure(&self, id: u64) -> Option<&StructSchema> {
        self.structs.get(&id)
    }

    /// The enum of node `id`.
    pub(crate) fn enumeration(&self, id: u64) -> Option<&EnumSchema> {
        self.enums.get(&id)
    }
}
