//! The segment transport over plain TCP: multi-segment messages travel one frame per segment, are
//! read in place, and a misbehaving peer gets an error, not a panic.

mod framing_support;

use framing_support::{book_message, book_of, refused, segment_bytes};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use windlass::framing::{
    FramingError, Limits, SegmentReceiver, SegmentSender, TcpSegmentTransport, TransportError,
};
use windlass_addressbook::AddressBook;

/// A connected pair of transports over 127.0.0.1.
async fn pair(limits: Limits) -> (TcpSegmentTransport, TcpSegmentTransport) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = tokio::join!(
        TcpSegmentTransport::connect(addr, limits),
        listener.accept()
    );
    let (stream, _) = accepted.expect("accept");
    (
        client.expect("connect"),
        TcpSegmentTransport::new(stream, limits),
    )
}

#[tokio::test]
async fn multi_segment_messages_arrive_whole_and_uncopied() {
    let (mut sender, mut receiver) = pair(Limits::new()).await;
    let messages: Vec<_> = (0..30).map(|i| book_message(i, 1 + i % 5)).collect();
    let expected: Vec<_> = messages.iter().map(segment_bytes).collect();
    assert!(
        expected.iter().any(|s| s.len() > 5),
        "messages must have several segments"
    );
    let send = tokio::spawn(async move {
        for m in &messages {
            sender.send(m).await.expect("send");
        }
        sender.shutdown().await.expect("shutdown");
    });
    let mut got = Vec::new();
    // At most one more recv than messages sent: the last one sees the clean end.
    for _ in 0..=expected.len() {
        match receiver.recv().await.expect("recv") {
            Some(m) => {
                assert_eq!(book_of(&m), AddressBook::generated(got.len() as u32));
                got.push(segment_bytes(m.get_segments()));
            }
            None => break,
        }
    }
    send.await.expect("sender");
    assert_eq!(got, expected);
    let stats = receiver.stats();
    assert_eq!(stats.messages, 30);
    assert_eq!(stats.copied_bytes, 0, "the framing keeps segments aligned");
}

#[tokio::test]
async fn both_directions_and_forwarding_received_segments() {
    let (mut a, mut b) = pair(Limits::new()).await;
    let original = book_message(12, 4);
    a.send(&original).await.expect("send");
    let received = b.recv().await.expect("recv").expect("a message");
    // Echo the received segments back as they are, without re-encoding.
    b.send(received.get_segments()).await.expect("echo");
    let echoed = a.recv().await.expect("recv").expect("a message");
    assert_eq!(
        segment_bytes(echoed.get_segments()),
        segment_bytes(&original)
    );
    assert_eq!(book_of(&echoed), AddressBook::generated(12));
}

#[tokio::test]
async fn limits_hold_on_both_sides() {
    let (mut sender, _receiver) = pair(Limits::new().with_max_segments(3)).await;
    let big = book_message(30, 1);
    let err = sender
        .send(&big)
        .await
        .expect_err("too many segments to send");
    assert!(
        matches!(
            err,
            TransportError::Framing(FramingError::TooManySegments { max: 3, .. })
        ),
        "{err}"
    );

    // A raw peer that ignores the limit: the receiver refuses at the fourth frame header.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let mut raw = TcpStream::connect(listener.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (stream, _) = listener.accept().await.expect("accept");
    let mut strict = TcpSegmentTransport::new(stream, Limits::new().with_max_segments(3));
    let mut frames = Vec::new();
    for _ in 0..4 {
        frames.extend([1, 0, 0, 0, 8, 0, 0, 0]); // MORE, 8 bytes
        frames.extend([0; 8]);
    }
    raw.write_all(&frames).await.expect("write");
    let err = refused(strict.recv().await);
    assert!(
        matches!(
            err,
            TransportError::Framing(FramingError::TooManySegments { count: 4, max: 3 })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_peer_that_breaks_the_framing_gets_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    for (bytes, what) in [
        (vec![0x80, 0, 0, 0, 8, 0, 0, 0], "reserved flag"),
        (
            vec![0, 0, 0, 0, 5, 0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0],
            "ragged segment",
        ),
        (vec![1, 0, 0, 0, 8, 0, 0, 0, 0, 0], "truncated"),
    ] {
        let mut raw = TcpStream::connect(addr).await.expect("connect");
        let (stream, _) = listener.accept().await.expect("accept");
        let mut transport = TcpSegmentTransport::new(stream, Limits::new());
        raw.write_all(&bytes).await.expect("write");
        raw.shutdown().await.expect("shutdown");
        let err = refused(transport.recv().await);
        let ok = match what {
            "reserved flag" => matches!(
                err,
                TransportError::Framing(FramingError::BadFrameHeader {
                    header: 0x0000_0008_0000_0080
                })
            ),
            "ragged segment" => matches!(
                err,
                TransportError::Framing(FramingError::SegmentNotWords { index: 0, len: 5 })
            ),
            _ => matches!(err, TransportError::Framing(FramingError::Truncated { .. })),
        };
        assert!(ok, "{what}: {err}");
    }
}

#[tokio::test]
async fn split_halves_send_and_receive_from_two_tasks() {
    let (a, b) = pair(Limits::new()).await;
    let (mut a_in, mut a_out) = a.into_split();
    let (mut b_in, mut b_out) = b.into_split();
    // b echoes everything back from its own task until a's sending half shuts down.
    let echo = tokio::spawn(async move {
        let mut echoed = 0;
        while let Some(m) = b_in.recv().await.expect("recv") {
            b_out.send(m.get_segments()).await.expect("echo");
            echoed += 1;
        }
        b_out.shutdown().await.expect("shutdown");
        echoed
    });
    let messages: Vec<_> = (0..10).map(|i| book_message(i, 2)).collect();
    let sending = async {
        for m in &messages {
            a_out.send(m).await.expect("send");
        }
        a_out.shutdown().await.expect("shutdown");
    };
    let receiving = async {
        let mut got = Vec::new();
        // One more recv than messages: the last sees b's clean end.
        for _ in 0..=messages.len() {
            match a_in.recv().await.expect("recv") {
                Some(m) => got.push(book_of(&m)),
                None => break,
            }
        }
        got
    };
    let ((), got) = tokio::join!(sending, receiving);
    assert_eq!(echo.await.expect("echo task"), 10);
    let expected: Vec<_> = (0..10).map(AddressBook::generated).collect();
    assert_eq!(got, expected);
    assert_eq!(a_in.stats().copied_bytes, 0);
}
