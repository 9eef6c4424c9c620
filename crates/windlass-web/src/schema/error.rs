//! Why a `CodeGeneratorRequest` could not be read.

/// A schema that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SchemaError {
    /// The bytes are not a Cap'n Proto message holding a `CodeGeneratorRequest`; pass what
    /// `capnp compile -o-` writes (unpacked stream framing).
    #[error("cannot read the code generator request")]
    Read(#[source] capnp::Error),
    /// A node is malformed or uses a schema feature this version does not know.
    #[error("schema node {node:#x}: {reason}")]
    Node {
        /// The node's ID.
        node: u64,
        /// What is wrong with it.
        reason: String,
    },
}
