//! Reading an RPC message's kind (and a question's id) straight from the bytes of its first
//! segment, so that watching every message costs a few loads instead of a validated reader;
//! with validated fallbacks for messages laid out unusually.

use capnp_rpc::rpc_capnp::message;

use crate::flow_limit::body_word;

/// `rpc.capnp` `Message` union tags windlass looks at.
pub(super) const ABORT: u16 = 1;
pub(super) const CALL: u16 = 2;
pub(super) const RETURN: u16 = 3;
pub(super) const FINISH: u16 = 4;
pub(super) const BOOTSTRAP: u16 = 8;

/// The question id of a `Call`, `Bootstrap` or `Finish`: from the raw bytes when it can, else
/// through the validated reader.
pub(super) fn question_id(
    first: Option<&[u8]>,
    root: capnp::Result<capnp::any_pointer::Reader<'_>>,
) -> Option<u32> {
    if let Some(word) = first.and_then(body_word) {
        return Some(word as u32);
    }
    let which = root
        .and_then(|r| r.get_as::<message::Reader<'_>>())
        .and_then(|m| Ok(m.which()?))
        .ok()?;
    match which {
        message::Call(c) => c.ok().map(|c| c.get_question_id()),
        message::Bootstrap(b) => b.ok().map(|b| b.get_question_id()),
        message::Finish(f) => f.ok().map(|f| f.get_question_id()),
        _ => None,
    }
}

/// A `Return`'s first data word (answer id, flags) read the validated way.
pub(super) fn checked_return_word(
    root: capnp::Result<capnp::any_pointer::Reader<'_>>,
) -> Option<u64> {
    let which = root
        .and_then(|r| r.get_as::<message::Reader<'_>>())
        .and_then(|m| Ok(m.which()?))
        .ok()?;
    match which {
        message::Return(Ok(r)) => {
            Some(u64::from(r.get_answer_id()) | u64::from(r.get_no_finish_needed()) << 33)
        }
        _ => None,
    }
}

/// The union tag of an RPC `Message` read straight from the first segment's bytes: the root
/// pointer (word 0) must be a struct pointer whose struct lies inside the segment; the tag is
/// the struct's first 16 bits (`Message`'s discriminant is at data offset 0). `None` for
/// anything else — a far pointer, a null or out-of-bounds root — which [`checked_tag`] then reads
/// the validated way.
///
/// This is what makes watching cheap: capnp's validated path (root reader, struct pointer
/// checks, `which()`) was over a third of windlass's own instructions per call (callgrind,
/// BENCHMARKS.md).
pub(crate) fn message_tag(segment: &[u8]) -> Option<u16> {
    let root = u64::from_le_bytes(segment.get(..8)?.try_into().ok()?);
    if root == 0 || root & 3 != 0 {
        return None;
    }
    // Bits 2..32: signed offset in words from the end of the pointer to the struct.
    let offset = i64::from((root as u32 as i32) >> 2);
    let data_words = (root >> 32) as u16;
    let pointer_words = (root >> 48) as u16;
    let start = usize::try_from(1 + offset).ok()?.checked_mul(8)?;
    let size = (usize::from(data_words) + usize::from(pointer_words)) * 8;
    if start.checked_add(size)? > segment.len() {
        return None;
    }
    if data_words == 0 {
        // No data section: every field reads as its default, the tag as 0 (`unimplemented`).
        return Some(0);
    }
    Some(u16::from_le_bytes([segment[start], segment[start + 1]]))
}

/// The union tag read through capnp's validated reader: the fallback of [`message_tag`].
pub(super) fn checked_tag(root: capnp::Result<capnp::any_pointer::Reader<'_>>) -> Option<u16> {
    let which = root
        .and_then(|r| r.get_as::<message::Reader<'_>>())
        .and_then(|m| Ok(m.which()?))
        .ok()?;
    Some(match which {
        message::Abort(_) => ABORT,
        message::Call(_) => CALL,
        message::Return(_) => RETURN,
        message::Finish(_) => FINISH,
        message::Bootstrap(_) => BOOTSTRAP,
        _ => u16::MAX,
    })
}
