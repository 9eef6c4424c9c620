//! Flow control for streaming calls (`-> stream` methods), borrowed from capnp-rpc.

use capnp::capability::Promise;
use capnp::message::ReaderOptions;
use capnp::Error;
use capnp_rpc::rpc_twoparty_capnp::Side;

/// capnp-rpc's fixed-window flow controller for streaming calls (`-> stream` methods).
///
/// capnp-rpc does not export it, but its two-party network makes one for each stream without
/// touching its streams: so a two-party network over empty streams, never driven, lends us one.
/// The controller sends the messages it is given through *their* `send`, i.e. through our
/// writer. (Written this way rather than re-implemented so that streaming keeps capnp-rpc's
/// tested window logic; if capnp-rpc ever exports it, use it directly.)
pub(super) fn borrowed_flow_controller(
    side: Side,
) -> (Box<dyn capnp_rpc::FlowController>, Promise<(), Error>) {
    use capnp_rpc::VatNetwork as _;
    use futures::FutureExt as _;
    let mut lender = capnp_rpc::twoparty::VatNetwork::new(
        futures::io::empty(),
        futures::io::sink(),
        side,
        ReaderOptions::new(),
    );
    match lender.accept().now_or_never() {
        Some(Ok(mut connection)) => connection.new_stream(),
        // capnp-rpc's `accept` is ready on its first call; this is not reached.
        _ => {
            let error = Error::failed("cannot create a flow controller for a stream".into());
            (Box::new(Refused(error.clone())), Promise::err(error))
        }
    }
}

/// A flow controller that refuses every message: the fallback should none be available.
struct Refused(Error);

impl capnp_rpc::FlowController for Refused {
    fn send(
        &mut self,
        _message: Box<dyn capnp_rpc::OutgoingMessage>,
        _ack: Promise<(), Error>,
    ) -> Promise<(), Error> {
        Promise::err(self.0.clone())
    }

    fn wait_all_acked(&mut self) -> Promise<(), Error> {
        Promise::err(self.0.clone())
    }
}
