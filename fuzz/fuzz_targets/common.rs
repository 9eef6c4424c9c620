#![allow(dead_code)] // each target uses a different subset
//! Shared by the fuzz targets: small limits (so a run explores framing, not allocation), feeding
//! a decoder in pieces chosen by the input, and a full traversal of every decoded message.

use bytes::BytesMut;
use capnp::message::ReaderOptions;
use tokio_util::codec::Decoder;
use windlass::framing::{Limits, Message};

/// Traversal limit, in words, for both our decoders and capnp's readers.
pub const TRAVERSAL_WORDS: usize = 1 << 17;

/// Limits equal to what capnp's readers enforce with a traversal limit of [`TRAVERSAL_WORDS`].
pub fn limits() -> Limits {
    let mut options = ReaderOptions::new();
    options.traversal_limit_in_words(Some(TRAVERSAL_WORDS));
    Limits::new()
        .with_max_message_bytes(TRAVERSAL_WORDS * 8)
        .with_reader_options(options)
}

/// The input after its first byte, fed to `decoder` in pieces of 1 + (first byte) bytes; every
/// message until the end or the first error.
pub fn decode_all<D>(decoder: &mut D, data: &[u8]) -> (Vec<D::Item>, Option<D::Error>)
where
    D: Decoder,
{
    let (piece, input) = match data.split_first() {
        Some((&p, rest)) => (usize::from(p) + 1, rest),
        None => (1, data),
    };
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in input.chunks(piece) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(item)) => out.push(item),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    loop {
        match decoder.decode_eof(&mut buf) {
            Ok(Some(item)) => out.push(item),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// Reads everything reachable from the root, as an application would: errors are fine, panics
/// are bugs.
pub fn traverse(message: &Message) {
    if let Ok(root) = message.get_root::<capnp::any_pointer::Reader<'_>>() {
        let _ = root.target_size();
    }
    let _ = message.is_canonical();
}

/// A message's segments as owned bytes, for comparing.
pub fn segments<S: capnp::message::ReaderSegments>(s: &S) -> Vec<Vec<u8>> {
    windlass::framing::to_segments(s)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}
