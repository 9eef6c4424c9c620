//! The segment transport over real ZeroMQ sockets (feature `zmq`): PUSH/PULL and DEALER/DEALER on
//! tcp://127.0.0.1, and interoperation with a peer that sends and receives plain frames.
//!
//! Without the feature, one ignored test stands in for these and says how to run them, so
//! `cargo test` does not report a file of zero tests as a pass.

#[cfg(feature = "zmq")]
mod framing_support;

#[cfg(not(feature = "zmq"))]
#[test]
#[ignore = "needs the zmq feature: cargo test --features zmq --test segment_transport_zmq"]
fn zeromq_segment_transport_needs_the_zmq_feature() {}

#[cfg(feature = "zmq")]
mod over_zeromq {
    use super::framing_support::{book_message, book_of, refused, segment_bytes};
    use bytes::Bytes;
    use windlass::framing::{
        self, FramingError, Limits, SegmentReceiver, SegmentSender, TransportError,
        ZmqSegmentTransport,
    };
    use windlass_addressbook::AddressBook;
    use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

    /// A PULL socket bound to a free port, and the endpoint to connect to.
    async fn bound_pull() -> (zeromq::PullSocket, String) {
        let mut pull = zeromq::PullSocket::new();
        let endpoint = pull.bind("tcp://127.0.0.1:0").await.expect("bind");
        (pull, endpoint.to_string())
    }

    #[tokio::test]
    async fn push_pull_carries_multi_segment_messages() {
        let (pull, endpoint) = bound_pull().await;
        let mut push = zeromq::PushSocket::new();
        push.connect(&endpoint).await.expect("connect");
        let mut sender = ZmqSegmentTransport::new(push, Limits::new());
        let mut receiver = ZmqSegmentTransport::new(pull, Limits::new());

        let messages: Vec<_> = (0..20).map(|i| book_message(i, 1 + i % 4)).collect();
        assert!(messages.iter().any(|m| framing::to_segments(m).len() > 5));
        for m in &messages {
            sender.send(m).await.expect("send");
        }
        for (i, m) in messages.iter().enumerate() {
            let got = receiver
                .recv()
                .await
                .expect("recv")
                .expect("zmq never ends");
            assert_eq!(segment_bytes(got.get_segments()), segment_bytes(m));
            assert_eq!(book_of(&got), AddressBook::generated(i as u32));
        }
        let stats = receiver.stats();
        assert_eq!(stats.messages, 20);
        // ZeroMQ's 2- or 9-byte frame headers leave most frames unaligned: copies are counted.
        assert!(stats.copied_bytes <= stats.segment_bytes);
    }

    #[tokio::test]
    async fn dealer_pairs_talk_both_ways() {
        let mut a = zeromq::DealerSocket::new();
        let endpoint = a.bind("tcp://127.0.0.1:0").await.expect("bind").to_string();
        let mut b = zeromq::DealerSocket::new();
        b.connect(&endpoint).await.expect("connect");
        let mut a = ZmqSegmentTransport::new(a, Limits::new());
        let mut b = ZmqSegmentTransport::new(b, Limits::new());
        let question = book_message(5, 2);
        b.send(&question).await.expect("send");
        let got = a.recv().await.expect("recv").expect("a message");
        // Forwarded as received: the frames share the received buffers, nothing is copied.
        a.send_frames(got.get_segments().to_frames())
            .await
            .expect("echo");
        let echoed = b.recv().await.expect("recv").expect("a message");
        assert_eq!(
            segment_bytes(echoed.get_segments()),
            segment_bytes(&question)
        );
    }

    #[tokio::test]
    async fn interoperates_with_a_peer_speaking_plain_frames() {
        // A peer that sends each segment as a frame, as pycapnp's to_segments + send_multipart does.
        let (pull, endpoint) = bound_pull().await;
        let mut raw_push = zeromq::PushSocket::new();
        raw_push.connect(&endpoint).await.expect("connect");
        let mut receiver = ZmqSegmentTransport::new(pull, Limits::new());
        let message = book_message(9, 3);
        let frames: Vec<Bytes> = framing::to_segments(&message)
            .into_iter()
            .map(Bytes::copy_from_slice)
            .collect();
        raw_push
            .send(ZmqMessage::try_from(frames).expect("frames"))
            .await
            .expect("send");
        let got = receiver.recv().await.expect("recv").expect("a message");
        assert_eq!(book_of(&got), AddressBook::generated(9));

        // And a peer that receives plain frames sees exactly the segments.
        let (mut raw_pull, endpoint) = bound_pull().await;
        let mut push = zeromq::PushSocket::new();
        push.connect(&endpoint).await.expect("connect");
        let mut sender = ZmqSegmentTransport::new(push, Limits::new());
        sender.send(&message).await.expect("send");
        let frames = raw_pull.recv().await.expect("recv").into_vec();
        let frames: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
        assert_eq!(frames, segment_bytes(&message));
    }

    #[tokio::test]
    async fn bad_frames_are_errors_not_panics() {
        let (pull, endpoint) = bound_pull().await;
        let mut raw_push = zeromq::PushSocket::new();
        raw_push.connect(&endpoint).await.expect("connect");
        let mut receiver = ZmqSegmentTransport::new(pull, Limits::new().with_max_segments(2));
        let bad = [
            vec![Bytes::from_static(b"12345")],
            vec![Bytes::from_static(&[0; 8]); 3],
            vec![Bytes::from_static(&[0; 8])],
        ];
        for frames in bad {
            raw_push
                .send(ZmqMessage::try_from(frames).expect("frames"))
                .await
                .expect("send");
        }
        let err = refused(receiver.recv().await);
        assert!(
            matches!(
                err,
                TransportError::Framing(FramingError::SegmentNotWords { index: 0, len: 5 })
            ),
            "{err}"
        );
        let err = refused(receiver.recv().await);
        assert!(
            matches!(
                err,
                TransportError::Framing(FramingError::TooManySegments { count: 3, max: 2 })
            ),
            "{err}"
        );
        // The socket survives a bad message: the next one (a null root) arrives.
        let ok = receiver.recv().await.expect("recv").expect("a message");
        assert_eq!(ok.get_segments().total_bytes(), 8);
    }
}
