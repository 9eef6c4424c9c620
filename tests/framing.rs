//! The stream codec, the packed codec and the blocking/async stream helpers: round trips with the
//! input split at every byte boundary, agreement with capnp's own framing, every limit, and
//! truncated streams.

mod framing_support;

use bytes::{Buf, BufMut, BytesMut};
use capnp::message::ReaderOptions;
use capnp::{serialize, serialize_packed};
use framing_support::{
    blob_message, blobs_of, book_message, book_of, decode_in_pieces, refused, segment_bytes, Rng,
};
use tokio_util::codec::{Decoder, Encoder};
use windlass::framing::{
    self, FramingError, Limits, MessageCodec, PackedCodec, DEFAULT_MAX_SEGMENTS,
};
use windlass_addressbook::AddressBook;

/// Three messages with 1, several and many segments, and their concatenated standard framing.
fn sample_stream() -> (Vec<Vec<Vec<u8>>>, Vec<u8>) {
    let messages = [
        book_message(2, 1024),
        book_message(6, 8),
        book_message(20, 2),
    ];
    let mut stream = Vec::new();
    for m in &messages {
        serialize::write_message(&mut stream, m).expect("write");
    }
    let segments = messages.iter().map(segment_bytes).collect::<Vec<_>>();
    assert_eq!(segments[0].len(), 1);
    assert!(segments[2].len() > 4, "{}", segments[2].len());
    (segments, stream)
}

fn packed_stream() -> (Vec<Vec<Vec<u8>>>, Vec<u8>) {
    let messages = [
        book_message(2, 1024),
        book_message(6, 8),
        book_message(20, 2),
    ];
    let mut stream = Vec::new();
    for m in &messages {
        serialize_packed::write_message(&mut stream, m).expect("write");
    }
    (messages.iter().map(segment_bytes).collect(), stream)
}

fn segments_of_all(messages: &[framing::Message]) -> Vec<Vec<Vec<u8>>> {
    messages
        .iter()
        .map(|m| segment_bytes(m.get_segments()))
        .collect()
}

#[test]
fn stream_codec_decodes_at_every_split_point() {
    let (expected, stream) = sample_stream();
    for cut in 0..=stream.len() {
        let mut codec = MessageCodec::new();
        let got = decode_in_pieces(&mut codec, &stream, [cut]).expect("decode");
        assert_eq!(segments_of_all(&got), expected, "split at {cut}");
        assert_eq!(codec.stats().messages, 3);
    }
}

#[test]
fn stream_codec_decodes_one_byte_at_a_time_and_in_random_pieces() {
    let (expected, stream) = sample_stream();
    let mut codec = MessageCodec::new();
    let got = decode_in_pieces(&mut codec, &stream, std::iter::repeat(1)).expect("decode");
    assert_eq!(segments_of_all(&got), expected);
    let mut rng = Rng::new(7);
    for _ in 0..200 {
        let pieces: Vec<usize> = (0..64).map(|_| 1 + rng.below(97)).collect();
        let got = decode_in_pieces(&mut MessageCodec::new(), &stream, pieces).expect("decode");
        assert_eq!(segments_of_all(&got), expected);
    }
}

#[test]
fn decoded_messages_read_correctly_and_reencode_to_the_same_bytes() {
    let (_, stream) = sample_stream();
    let got = decode_in_pieces(&mut MessageCodec::new(), &stream, []).expect("decode");
    let people: Vec<usize> = got.iter().map(|m| book_of(m).people.len()).collect();
    assert_eq!(people, [2, 6, 20]);
    assert_eq!(book_of(&got[1]), AddressBook::generated(6));
    let mut again = BytesMut::new();
    for m in &got {
        MessageCodec::new()
            .encode(m.get_segments(), &mut again)
            .expect("encode");
    }
    assert_eq!(&again[..], &stream[..]);
}

#[test]
fn encoder_matches_capnp_byte_for_byte() {
    for m in [book_message(0, 1), book_message(3, 1), book_message(30, 4)] {
        let mut ours = BytesMut::new();
        MessageCodec::new().encode(&m, &mut ours).expect("encode");
        assert_eq!(&ours[..], serialize::write_message_to_words(&m));
    }
}

#[test]
fn segments_are_slices_of_the_receive_buffer() {
    let (_, stream) = sample_stream();
    let mut buf = BytesMut::from(&stream[..]);
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let mut codec = MessageCodec::new();
    let mut count = 0;
    while let Some(m) = codec.decode(&mut buf).expect("decode") {
        for s in m.get_segments().iter() {
            assert!(range.contains(&(s.as_ptr() as usize)), "segment was copied");
        }
        assert_eq!(m.get_segments().copied_bytes(), 0);
        count += 1;
    }
    assert_eq!(count, 3);
    assert_eq!(codec.stats().copied_bytes, 0);
}

#[test]
fn an_unaligned_buffer_costs_one_counted_copy() {
    let (expected, stream) = sample_stream();
    let mut buf = BytesMut::with_capacity(stream.len() + 1);
    buf.put_u8(0);
    buf.extend_from_slice(&stream);
    buf.advance(1); // now the messages start one byte past an aligned address
    let mut codec = MessageCodec::new();
    let mut got = Vec::new();
    while let Some(m) = codec.decode(&mut buf).expect("decode") {
        got.push(m);
    }
    assert_eq!(segments_of_all(&got), expected);
    let stats = codec.stats();
    assert_eq!(stats.copied_messages, 3);
    let body: usize = expected.iter().flatten().map(Vec::len).sum();
    assert_eq!(stats.copied_bytes, body as u64);
    assert_eq!(book_of(&got[2]), AddressBook::generated(20));
}

fn decode_error(codec: &mut MessageCodec, input: &[u8]) -> FramingError {
    let mut buf = BytesMut::from(input);
    let err = refused(codec.decode(&mut buf));
    // Refused before reserving memory for the message.
    assert!(buf.capacity() < 1 << 16, "reserved {}", buf.capacity());
    err
}

fn table(count_field: u32, sizes: &[u32]) -> Vec<u8> {
    let mut out = count_field.to_le_bytes().to_vec();
    for s in sizes {
        out.extend(s.to_le_bytes());
    }
    out
}

#[test]
fn a_zero_segment_header_is_refused() {
    let err = decode_error(&mut MessageCodec::new(), &table(u32::MAX, &[1]));
    assert!(matches!(err, FramingError::NoSegments), "{err}");
}

#[test]
fn too_many_segments_are_refused_from_the_count_alone() {
    let err = decode_error(&mut MessageCodec::new(), &table(511, &[]));
    assert!(
        matches!(
            err,
            FramingError::TooManySegments {
                count: 512,
                max: 511
            }
        ),
        "{err}"
    );
    let mut codec = MessageCodec::with_limits(Limits::new().with_max_segments(3));
    let err = decode_error(&mut codec, &table(3, &[]));
    assert!(
        matches!(err, FramingError::TooManySegments { count: 4, max: 3 }),
        "{err}"
    );
    let err = decode_error(&mut MessageCodec::new(), &table(u32::MAX - 1, &[]));
    assert!(
        matches!(err, FramingError::TooManySegments { count, .. } if count == u64::from(u32::MAX)),
        "{err}"
    );
}

#[test]
fn the_default_segment_limit_is_exactly_capnps() {
    for (segments, ok) in [
        (DEFAULT_MAX_SEGMENTS, true),
        (DEFAULT_MAX_SEGMENTS + 1, false),
    ] {
        // Segment 0 holds a null root pointer; the others are empty.
        let mut sizes = vec![0u32; segments];
        sizes[0] = 1;
        let count = u32::try_from(segments - 1).expect("small");
        let mut input = table(count, &sizes);
        if !input.len().is_multiple_of(8) {
            input.extend([0; 4]);
        }
        input.extend([0; 8]);
        let capnp_ok = serialize::read_message(&input[..], ReaderOptions::new()).is_ok();
        let ours = decode_in_pieces(&mut MessageCodec::new(), &input, []);
        assert_eq!(capnp_ok, ok);
        assert_eq!(ours.is_ok(), ok, "{segments} segments");
    }
}

#[test]
fn oversized_messages_are_refused_before_their_bytes_arrive() {
    let mut codec = MessageCodec::with_limits(Limits::new().with_max_message_bytes(1024));
    let err = decode_error(&mut codec, &table(0, &[129]));
    assert!(
        matches!(
            err,
            FramingError::MessageTooLarge {
                bytes: 1032,
                max: 1024
            }
        ),
        "{err}"
    );
    // Sizes near 2^32 words, which overflow 32-bit (and 8 × u32 in 32-bit) arithmetic.
    let err = decode_error(&mut MessageCodec::new(), &table(1, &[u32::MAX, u32::MAX]));
    let expected = 2 * u64::from(u32::MAX) * 8;
    assert!(
        matches!(err, FramingError::MessageTooLarge { bytes, .. } if bytes == expected),
        "{err}"
    );
    // At the limit it is accepted and waits for the bytes.
    let mut buf = BytesMut::from(&table(0, &[128])[..]);
    assert!(codec.decode(&mut buf).expect("within limit").is_none());

    // A lower traversal limit lowers the size limit, as in capnp's reader.
    let mut options = ReaderOptions::new();
    options.traversal_limit_in_words(Some(100));
    let mut codec = MessageCodec::with_limits(Limits::new().with_reader_options(options));
    let err = decode_error(&mut codec, &table(0, &[101]));
    assert!(
        matches!(
            err,
            FramingError::MessageTooLarge {
                bytes: 808,
                max: 800
            }
        ),
        "{err}"
    );
    let mut whole = table(0, &[101]);
    whole.resize(8 + 808, 0);
    assert!(serialize::read_message(&whole[..], options).is_err());
    assert!(serialize::read_message(&whole[..], ReaderOptions::new()).is_ok());
}

#[test]
fn the_encoder_refuses_what_the_decoder_would() {
    let message = book_message(40, 1);
    let segments = framing::to_segments(&message).len();
    let mut codec = MessageCodec::with_limits(Limits::new().with_max_segments(segments - 1));
    let err = codec
        .encode(&message, &mut BytesMut::new())
        .expect_err("too many segments");
    assert!(matches!(err, FramingError::TooManySegments { .. }), "{err}");
    let ragged: &[&[u8]] = &[&[0; 8], &[1, 2, 3]];
    let err = MessageCodec::new()
        .encode(ragged, &mut BytesMut::new())
        .expect_err("not words");
    assert!(
        matches!(err, FramingError::SegmentNotWords { index: 1, len: 3 }),
        "{err}"
    );
}

#[test]
fn every_truncation_is_an_error_and_message_boundaries_are_clean_ends() {
    let (expected, stream) = sample_stream();
    let mut boundaries = vec![0];
    let mut rest = &stream[..];
    while !rest.is_empty() {
        serialize::read_message_from_flat_slice(&mut rest, ReaderOptions::new()).expect("read");
        boundaries.push(stream.len() - rest.len());
    }
    for end in 0..stream.len() {
        let result = decode_in_pieces(&mut MessageCodec::new(), &stream[..end], []);
        match boundaries.iter().position(|&b| b == end) {
            Some(n) => assert_eq!(segments_of_all(&result.expect("clean")), expected[..n]),
            None => assert!(
                matches!(result, Err(FramingError::Truncated { received, expected })
                    if received < expected),
                "prefix of {end} bytes"
            ),
        }
    }
}

#[test]
fn packed_codec_decodes_capnps_packing_at_every_split_point() {
    let (expected, stream) = packed_stream();
    for cut in 0..=stream.len() {
        let got = decode_in_pieces(&mut PackedCodec::new(), &stream, [cut]).expect("decode");
        assert_eq!(segments_of_all(&got), expected, "split at {cut}");
    }
    let got =
        decode_in_pieces(&mut PackedCodec::new(), &stream, std::iter::repeat(1)).expect("bytes");
    assert_eq!(segments_of_all(&got), expected);
    let mut rng = Rng::new(11);
    for _ in 0..100 {
        let pieces: Vec<usize> = (0..64).map(|_| 1 + rng.below(31)).collect();
        let got = decode_in_pieces(&mut PackedCodec::new(), &stream, pieces).expect("decode");
        assert_eq!(segments_of_all(&got), expected);
        assert_eq!(book_of(&got[2]), AddressBook::generated(20));
    }
}

#[test]
fn packed_encoder_is_byte_identical_to_capnp() {
    let blobs = vec![
        vec![0xff; 100],
        vec![0; 300],
        (0..=255).collect(),
        vec![1, 0, 2],
    ];
    for m in [
        book_message(0, 1),
        book_message(25, 3),
        blob_message(&blobs, 2),
        blob_message(&blobs, 500),
    ] {
        let mut ours = BytesMut::new();
        PackedCodec::new().encode(&m, &mut ours).expect("encode");
        let mut theirs = Vec::new();
        serialize_packed::write_message(&mut theirs, &m).expect("write");
        assert_eq!(&ours[..], &theirs[..]);
        let back = decode_in_pieces(&mut PackedCodec::new(), &ours, []).expect("decode");
        assert_eq!(segment_bytes(back[0].get_segments()), segment_bytes(&m));
    }
}

#[test]
fn packed_limits_and_truncation() {
    // A header announcing 2^32 - 1 words in one segment, packed: refused, nothing expanded.
    // The table word 00 00 00 00 ff ff ff ff packs to tag 0xf0 and its four non-zero bytes.
    let mut buf = BytesMut::from(&[0xf0, 0xff, 0xff, 0xff, 0xff][..]);
    let err = refused(PackedCodec::new().decode(&mut buf));
    assert!(matches!(err, FramingError::MessageTooLarge { .. }), "{err}");

    // One word announced, then a zero run of 256 words: the run overruns the message.
    let mut input = BytesMut::new();
    input.extend_from_slice(&[0x10, 1, 0, 255]); // table: count 0, size 1; then 256 zero words
    let err = refused(PackedCodec::new().decode(&mut input));
    assert!(
        matches!(err, FramingError::PackedRunOverrun { excess_words: 255 }),
        "{err}"
    );

    // A zero run from the segment table into the segments (found by fuzzing): capnp reads the
    // table and the segments separately and refuses it, and so do we.
    let crossing = [
        0x19, 0x20, 0x00, 0x20, 0x00, 0x20, 0x00, 0x08, 0x06, 0, 0, 0, 0, 0, 0, 0, 0x02,
    ];
    assert!(serialize_packed::read_message(&crossing[..], ReaderOptions::new()).is_err());
    let err = refused(decode_in_pieces(&mut PackedCodec::new(), &crossing, []));
    assert!(
        matches!(err, FramingError::PackedRunOverrun { excess_words: 17 }),
        "{err}"
    );

    let (_, stream) = packed_stream();
    let first_end = {
        let mut r = &stream[..];
        serialize_packed::read_message(&mut r, ReaderOptions::new()).expect("read");
        stream.len() - r.len()
    };
    for end in 1..first_end {
        let result = decode_in_pieces(&mut PackedCodec::new(), &stream[..end], []);
        assert!(
            matches!(result, Err(FramingError::Truncated { .. })),
            "{end}"
        );
    }
}

#[test]
fn blocking_streams_read_many_messages_until_a_clean_end() {
    let (expected, stream) = sample_stream();
    let got = framing::read_messages(&stream[..], Limits::new())
        .collect::<Result<Vec<_>, _>>()
        .expect("read");
    assert_eq!(segments_of_all(&got), expected);
    assert!(framing::read_messages(&[][..], Limits::new())
        .next()
        .is_none());
    let cut = stream.len() - 3;
    let results: Vec<_> = framing::read_messages(&stream[..cut], Limits::new()).collect();
    assert_eq!(results.len(), 3);
    assert!(matches!(results[2], Err(FramingError::Truncated { .. })));

    let mut written = Vec::new();
    for m in &got {
        framing::write_message(&mut written, m.get_segments(), &Limits::new()).expect("write");
    }
    assert_eq!(written, stream);
}

#[tokio::test]
async fn async_streams_over_tcp_read_many_messages_without_copying() {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let messages: Vec<_> = (0..20).map(|i| book_message(i, 1 + i)).collect();
    let expected: Vec<_> = messages.iter().map(segment_bytes).collect();
    let writer = tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        for m in &messages {
            framing::write_message_async(&mut stream, m, &Limits::new())
                .await
                .expect("write");
        }
        // A truncated message at the end: its table promises more than is sent.
        stream.write_all(&table(0, &[4])).await.expect("write");
        stream.shutdown().await.expect("shutdown");
    });
    let (socket, _) = listener.accept().await.expect("accept");
    let mut incoming = framing::message_stream(socket, Limits::new());
    let mut got = Vec::new();
    let end = loop {
        match incoming.next().await {
            Some(Ok(m)) => got.push(segment_bytes(m.get_segments())),
            other => break other,
        }
    };
    writer.await.expect("writer");
    assert_eq!(got, expected);
    let end = refused(end.expect("an error, not the end"));
    assert!(
        matches!(
            end,
            FramingError::Truncated {
                received: 8,
                expected: 40
            }
        ),
        "{end}"
    );
    assert_eq!(incoming.decoder().stats().copied_bytes, 0);
    assert_eq!(incoming.decoder().stats().messages, 20);
}

#[test]
fn blobs_survive_both_codecs() {
    let blobs = vec![vec![7; 1000], vec![], vec![0; 64], b"hello".to_vec()];
    let message = blob_message(&blobs, 16);
    let mut plain = BytesMut::new();
    MessageCodec::new()
        .encode(&message, &mut plain)
        .expect("encode");
    let got = decode_in_pieces(&mut MessageCodec::new(), &plain, []).expect("decode");
    assert_eq!(blobs_of(&got[0]), blobs);
    let mut packed = BytesMut::new();
    PackedCodec::new()
        .encode(&message, &mut packed)
        .expect("encode");
    let got = decode_in_pieces(&mut PackedCodec::new(), &packed, []).expect("decode");
    assert_eq!(blobs_of(&got[0]), blobs);
    assert!(packed.len() < plain.len());
}
