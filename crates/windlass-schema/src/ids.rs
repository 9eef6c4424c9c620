//! Derived node IDs, computed as the reference compiler does: the first 8 bytes (big-endian) of
//! the MD5 of the parent's ID (little-endian) and a suffix, with the high bit set.

use crate::md5;

fn from_digest(bytes: &[u8]) -> u64 {
    let d = md5::digest(bytes);
    let mut v = 0u64;
    for b in &d[..8] {
        v = v << 8 | u64::from(*b);
    }
    v | 1 << 63
}

/// The ID of a nested declaration without an explicit `@0x...`: parent ID and name.
pub(crate) fn child_id(parent: u64, name: &str) -> u64 {
    let mut bytes = parent.to_le_bytes().to_vec();
    bytes.extend_from_slice(name.as_bytes());
    from_digest(&bytes)
}

/// The ID of a group or named union: parent ID and the field's index in the parent.
pub(crate) fn group_id(parent: u64, index: u16) -> u64 {
    let mut bytes = parent.to_le_bytes().to_vec();
    bytes.extend_from_slice(&index.to_le_bytes());
    from_digest(&bytes)
}

/// The ID of a method's implicit parameter or result struct.
pub(crate) fn method_params_id(parent: u64, ordinal: u16, is_results: bool) -> u64 {
    let mut bytes = parent.to_le_bytes().to_vec();
    bytes.extend_from_slice(&ordinal.to_le_bytes());
    bytes.push(u8::from(is_results));
    from_digest(&bytes)
}
