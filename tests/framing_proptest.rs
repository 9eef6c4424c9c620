//! decode(encode(m)) == m for generated messages, through every codec, with the encoded bytes
//! fed to the decoder in generated pieces.

mod framing_support;

use bytes::BytesMut;
use framing_support::{blob_message, blobs_of, decode_in_pieces, segment_bytes};
use proptest::prelude::*;
use tokio_util::codec::Encoder;
use windlass::framing::{self, Limits, MessageCodec, MultipartCodec, PackedCodec};

fn blobs() -> impl Strategy<Value = Vec<Vec<u8>>> {
    // Mostly-zero and mostly-nonzero bytes, so packing meets both kinds of runs.
    let byte = prop_oneof![Just(0u8), Just(0xffu8), any::<u8>()];
    prop::collection::vec(prop::collection::vec(byte, 0..200), 0..12)
}

fn pieces() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..64, 0..40)
}

proptest! {
    // 128 cases: each also feeds the decoder in generated pieces; enough to cover the shapes
    // (empty lists, zero and 0xff runs, 1-40 word first segments) within seconds in CI.
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn stream_codec_round_trips(blobs in blobs(), first in 1u32..40, pieces in pieces()) {
        let message = blob_message(&blobs, first);
        let mut encoded = BytesMut::new();
        MessageCodec::new().encode(&message, &mut encoded).expect("encode");
        let got = decode_in_pieces(&mut MessageCodec::new(), &encoded, pieces).expect("decode");
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(segment_bytes(got[0].get_segments()), segment_bytes(&message));
        prop_assert_eq!(blobs_of(&got[0]), blobs);
    }

    #[test]
    fn packed_codec_round_trips(blobs in blobs(), first in 1u32..40, pieces in pieces()) {
        let message = blob_message(&blobs, first);
        let mut encoded = BytesMut::new();
        PackedCodec::new().encode(&message, &mut encoded).expect("encode");
        let mut theirs = Vec::new();
        capnp::serialize_packed::write_message(&mut theirs, &message).expect("pack");
        prop_assert_eq!(&encoded[..], &theirs[..]);
        let got = decode_in_pieces(&mut PackedCodec::new(), &encoded, pieces).expect("decode");
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(blobs_of(&got[0]), blobs);
    }

    #[test]
    fn multipart_codec_round_trips(blobs in blobs(), first in 1u32..40, pieces in pieces()) {
        let message = blob_message(&blobs, first);
        let mut encoded = BytesMut::new();
        MultipartCodec::new(Limits::new()).encode(&message, &mut encoded).expect("encode");
        let mut codec = MultipartCodec::new(Limits::new());
        let frames = decode_in_pieces(&mut codec, &encoded, pieces).expect("decode");
        prop_assert_eq!(frames.len(), 1);
        let got = framing::from_segments(frames.into_iter().next().unwrap_or_default(), &Limits::new())
            .expect("segments");
        prop_assert_eq!(got.get_segments().copied_bytes(), 0);
        prop_assert_eq!(blobs_of(&got), blobs);
    }

    #[test]
    fn blocking_stream_round_trips(messages in prop::collection::vec(blobs(), 0..5)) {
        let mut stream = Vec::new();
        for blobs in &messages {
            framing::write_message(&mut stream, &blob_message(blobs, 3), &Limits::new())
                .expect("write");
        }
        let got = framing::read_messages(&stream[..], Limits::new())
            .map(|m| m.map(|m| blobs_of(&m)))
            .collect::<Result<Vec<_>, _>>()
            .expect("read");
        prop_assert_eq!(got, messages);
    }
}
