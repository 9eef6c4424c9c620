//! Standard schema files the reference compiler installs under `/capnp/`, written for this
//! crate so that schemas importing them compile where the C++ tool is not installed. Each
//! declares the same file ID, names, node IDs and types as the official file (IDs are how the
//! generated code refers to them); the comments are ours. A file of the same name in an import
//! path (e.g. `/usr/include/capnp/`) always takes precedence.
//!
//! The small files are written out below; the larger ones (`schema.capnp`, `rpc.capnp`,
//! `rpc-twoparty.capnp`) live in `src/stdlib/` as ordinary schema files. `tests/builtins.rs`
//! compares every node of each with what the C++ tool makes of the official file.

/// `StreamResult`'s ID, the result type of every `-> stream` method.
pub(crate) const STREAM_RESULT_ID: u64 = 0x995f_9a33_77c0_b16e;

const CXX: &str = r#"# Annotations understood by the C++ code generator.
@0xbdf87d7bb8304e81;
$namespace("capnp::annotations");

annotation namespace(file): Text;
# The C++ namespace the generated code of a file goes into, e.g. "foo::bar".

annotation name(field, enumerant, struct, enum, interface, method, param, group, union): Text;
# The C++ name to use instead of the schema name.
"#;

const STREAM: &str = r#"# The result type of streaming methods (`-> stream`).
@0x86c366a91393f3f8;
$import "/capnp/c++.capnp".namespace("capnp");

struct StreamResult @0x995f9a3377c0b16e {
  # Empty: a streaming call returns nothing; flow control is the RPC system's business.
}
"#;

const RUST: &str = r#"# Annotations understood by capnpc-rust, the Rust code generator.
@0x83b3c14c3c8dd083;

annotation name @0xc2fe4c6d100166d0 (field, struct, enum, enumerant, union, group) :Text;
# The Rust name to use instead of the schema name.

annotation parentModule @0xabee386cd1450364 (file) :Text;
# The module path (`::`-separated) the generated module of this file is placed under.

annotation option @0xabfef22c4ee1964e (field) :Void;
# Make a pointer field's getter return an Option.
"#;

const PERSISTENT: &str = r#"# Capabilities that can be saved and restored later (sturdy references).
@0xb8630836983feed7;
$import "/capnp/c++.capnp".namespace("capnp");

interface Persistent@0xc8cb212fcd9f5691(SturdyRef, Owner) {
  # A capability that can be saved to a SturdyRef, for the Owner given.
  save @0 SaveParams -> SaveResults;

  struct SaveParams {
    sealFor @0 :Owner;
  }

  struct SaveResults {
    sturdyRef @0 :SturdyRef;
  }
}

annotation persistent(interface, field) :Void;
"#;

const SCHEMA: &str = include_str!("stdlib/schema.capnp");

const RPC_TWOPARTY: &str = include_str!("stdlib/rpc-twoparty.capnp");

const RPC: &str = include_str!("stdlib/rpc.capnp");

/// The names (relative to an import directory) of the files [`lookup`] provides.
pub(crate) const NAMES: &[&str] = &[
    "capnp/c++.capnp",
    "capnp/stream.capnp",
    "capnp/rust.capnp",
    "capnp/persistent.capnp",
    "capnp/schema.capnp",
    "capnp/rpc-twoparty.capnp",
    "capnp/rpc.capnp",
];

/// The embedded text of `capnp/<name>`, if it is one we provide.
pub(crate) fn lookup(rel: &str) -> Option<&'static str> {
    Some(match rel {
        "capnp/c++.capnp" => CXX,
        "capnp/stream.capnp" => STREAM,
        "capnp/rust.capnp" => RUST,
        "capnp/persistent.capnp" => PERSISTENT,
        "capnp/schema.capnp" => SCHEMA,
        "capnp/rpc-twoparty.capnp" => RPC_TWOPARTY,
        "capnp/rpc.capnp" => RPC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_name_has_a_text() {
        for name in super::NAMES {
            assert!(super::lookup(name).is_some(), "{name} has no text");
        }
    }
}
