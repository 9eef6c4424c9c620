//! Calculator servers that record the client certificate each connection presented (TLS tests
//! of the library and of the demo scenario).

use std::sync::{Arc, Mutex};

use windlass::server::{ConnectionInfo, Options, ServerHandle};
use windlass::tls::{self, ClientAuth};
use windlass_calculator as calculator;

/// A Calculator server with `options`, recording the client certificate subject (or "none")
/// the bootstrap factory saw for each connection.
pub fn server(options: Options) -> (ServerHandle, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let handle = windlass::Server::bind("127.0.0.1:0", options, move |info: &ConnectionInfo| {
        let subject = info
            .peer_certificate()
            .map_or_else(|| "none".to_string(), |cert| cert.subject().to_string());
        record.lock().expect("not poisoned").push(subject);
        calculator::new_client().client
    })
    .expect("spawn");
    (handle, seen)
}

/// A server with the development certificate that asks clients for one signed by the dev CA.
pub fn mtls_server(mode: ClientAuth) -> (ServerHandle, Arc<Mutex<Vec<String>>>) {
    let tls = tls::dev::server()
        .client_auth(tls::dev::ca(), mode)
        .build()
        .expect("config");
    server(Options::new().with_tls(tls))
}
