//! Glue between sockets and capnp-rpc shared by servers and clients: socket tuning, TLS
//! recognition and the `Abort` message a refused peer is sent. The `VatNetwork` itself is made
//! by `transport::network`.

/// Whether the first bytes of a stream are a TLS handshake record: content type 22, major
/// version 3. A Cap'n Proto stream starts with a little-endian segment count, which would have to
/// be 0x0003_xx16 + 1 — far beyond any reader's segment limit — to look the same.
pub(crate) fn looks_like_tls(head: &[u8]) -> bool {
    matches!(head, [0x16, 0x03, ..])
}

/// A framed Cap'n Proto RPC `Abort` message: how to tell a peer why we are closing in words its
/// RPC system understands and reports as the error of its calls.
pub(crate) fn abort_message(reason: &str, kind: capnp::ErrorKind) -> Vec<u8> {
    use capnp_rpc::rpc_capnp::{exception, message};
    let mut builder = capnp::message::Builder::new_default();
    let mut abort = builder.init_root::<message::Builder<'_>>().init_abort();
    abort.set_reason(reason);
    abort.set_type(match kind {
        capnp::ErrorKind::Overloaded => exception::Type::Overloaded,
        capnp::ErrorKind::Disconnected => exception::Type::Disconnected,
        capnp::ErrorKind::Unimplemented => exception::Type::Unimplemented,
        _ => exception::Type::Failed,
    });
    capnp::serialize::write_message_to_words(&builder)
}

/// TCP keepalive: after this long without traffic the kernel starts probing the peer.
pub(crate) const KEEPALIVE_TIME: std::time::Duration = std::time::Duration::from_secs(60);
/// TCP keepalive: the interval between probes (the kernel gives up after its probe count,
/// 9 on Linux, so a dead peer is noticed within about 60 + 9 × 10 s).
pub(crate) const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// `TCP_NODELAY` (RPC messages are small and latency-bound) and TCP keepalive, so a peer that
/// vanished without a FIN is eventually noticed even on an idle connection.
pub(crate) fn tune_socket(stream: &tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_TIME)
        .with_interval(KEEPALIVE_INTERVAL);
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "cannot enable TCP keepalive");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keepalive and nodelay settings read back from a real socket, not just "set".
    #[tokio::test]
    async fn socket_tuning_reads_back() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stream, _) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let stream = stream.expect("connect");
        tune_socket(&stream);
        let sock = socket2::SockRef::from(&stream);
        assert!(stream.nodelay().expect("nodelay"));
        assert!(sock.keepalive().expect("keepalive"));
        #[cfg(target_os = "linux")]
        {
            assert_eq!(sock.tcp_keepalive_time().expect("time"), KEEPALIVE_TIME);
            assert_eq!(
                sock.tcp_keepalive_interval().expect("interval"),
                KEEPALIVE_INTERVAL
            );
        }
    }

    #[test]
    fn tls_records_are_recognised_and_capnp_is_not() {
        assert!(looks_like_tls(&[0x16, 0x03, 0x01]));
        assert!(!looks_like_tls(&[0x16]));
        assert!(!looks_like_tls(&[0x00, 0x00, 0x00]));
        // A capnp message always starts with its segment count minus one.
        assert!(!looks_like_tls(
            &abort_message("x", capnp::ErrorKind::Failed)[..3]
        ));
    }

    #[test]
    fn abort_messages_read_back() {
        let bytes = abort_message("go away", capnp::ErrorKind::Failed);
        let reader =
            capnp::serialize::read_message(&mut &bytes[..], capnp::message::ReaderOptions::new())
                .expect("framed");
        let root: capnp_rpc::rpc_capnp::message::Reader<'_> = reader.get_root().expect("root");
        match root.which().expect("known") {
            capnp_rpc::rpc_capnp::message::Abort(abort) => {
                let reason = abort.expect("abort").get_reason().expect("reason");
                assert_eq!(reason.to_str().expect("utf-8"), "go away");
            }
            _ => panic!("not an abort"),
        }
    }
}
