//! Helpers shared by the framing and segment transport tests: messages with many segments, and
//! feeding a decoder its input in chosen pieces.

#![allow(dead_code)] // each test binary uses a different subset

use bytes::BytesMut;
use capnp::message::{Builder, HeapAllocator, ReaderSegments};
use tokio_util::codec::Decoder;
use windlass::framing::{self, Message};
use windlass_addressbook::AddressBook;

/// A builder whose first segment holds `first_segment_words` words, so bigger messages spill into
/// several segments.
pub(crate) fn builder(first_segment_words: u32) -> Builder<HeapAllocator> {
    Builder::new(HeapAllocator::new().first_segment_words(first_segment_words.max(1)))
}

/// An address book of `people` people as a message with small segments.
pub(crate) fn book_message(people: u32, first_segment_words: u32) -> Builder<HeapAllocator> {
    let mut message = builder(first_segment_words);
    AddressBook::generated(people).build(&mut message);
    message
}

/// A message whose root is a list of the given blobs.
pub(crate) fn blob_message(blobs: &[Vec<u8>], first_segment_words: u32) -> Builder<HeapAllocator> {
    let mut message = builder(first_segment_words);
    let len = u32::try_from(blobs.len()).expect("few blobs");
    let mut list = message.initn_root::<capnp::data_list::Builder<'_>>(len);
    for (i, blob) in blobs.iter().enumerate() {
        list.set(u32::try_from(i).expect("few blobs"), blob);
    }
    message
}

/// The blobs of a [`blob_message`].
pub(crate) fn blobs_of<S: ReaderSegments>(message: &capnp::message::Reader<S>) -> Vec<Vec<u8>> {
    let list: capnp::data_list::Reader<'_> = message.get_root().expect("root");
    list.iter().map(|b| b.expect("blob").to_vec()).collect()
}

/// Owned copies of a message's segments, for comparing.
pub(crate) fn segment_bytes<S: ReaderSegments + ?Sized>(message: &S) -> Vec<Vec<u8>> {
    framing::to_segments(message)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}

/// The book in a decoded message.
pub(crate) fn book_of(message: &Message) -> AddressBook {
    AddressBook::from_message(message).expect("an address book")
}

/// Feeds `input` to `decoder` in pieces of the given sizes (the rest in one piece), decoding
/// after each piece, then signals the end; returns every message and the final result.
pub(crate) fn decode_in_pieces<D>(
    decoder: &mut D,
    input: &[u8],
    pieces: impl IntoIterator<Item = usize>,
) -> Result<Vec<D::Item>, D::Error>
where
    D: Decoder,
{
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = input;
    let mut pieces = pieces.into_iter();
    while !rest.is_empty() {
        let n = pieces.next().unwrap_or(rest.len()).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        // Each decode either makes progress or asks for more; bounded by the messages in input.
        while let Some(item) = decoder.decode(&mut buf)? {
            out.push(item);
        }
    }
    while let Some(item) = decoder.decode_eof(&mut buf)? {
        out.push(item);
    }
    Ok(out)
}

/// A small deterministic generator (xorshift64*), so random chunkings are reproducible without a
/// dependency.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// The error of a result whose success value has no `Debug` (a capnp `Reader`).
pub(crate) fn refused<T, E>(result: Result<T, E>) -> E {
    match result {
        Ok(_) => panic!("accepted what must be refused"),
        Err(e) => e,
    }
}
