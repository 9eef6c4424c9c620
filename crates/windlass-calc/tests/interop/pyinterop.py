"""Helpers shared by the interop scripts: schema loading, TLS contexts, address parsing.

These scripts are peers for windlass's interoperability tests (tests/interop*.rs). They use
pycapnp, the Python bindings of the C++ reference implementation, and load windlass's own schema
files, so both sides agree on the wire format only because the schemas and the protocol agree.
"""

import pathlib
import ssl
import sys

import capnp

ROOT = pathlib.Path(__file__).resolve().parents[4]
# Each schema belongs to its crate: the Calculator's to windlass-calculator, the address book's
# to the example's model crate.
SCHEMAS = {
    "calculator.capnp": ROOT / "crates" / "windlass-calculator" / "schemas" / "calculator.capnp",
    "addressbook.capnp": ROOT / "crates" / "windlass-addressbook" / "schemas" / "addressbook.capnp",
}


def load_schema(name):
    """Loads the schema NAME with pycapnp's own schema compiler (no generated code involved)."""
    return capnp.load(str(SCHEMAS[name]))


def split_addr(addr):
    """'HOST:PORT' (or '[V6]:PORT') -> (host, port)."""
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        sys.exit(f"error: expected HOST:PORT, got {addr!r}")
    return host.strip("[]"), int(port)


def server_tls(cert, key, client_ca=None):
    """A server-side TLS context; with client_ca, clients must present a certificate it signed."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx


def client_tls(ca, cert=None, key=None):
    """A client-side TLS context trusting only CA, with an optional client certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def add_tls_client_args(parser):
    """The TLS options of a client script; TLS is on when --ca is given."""
    parser.add_argument("--ca", help="PEM CA certificate to trust; turns TLS on")
    parser.add_argument("--server-name", help="name to verify (default: the host connected to)")
    parser.add_argument("--client-cert", help="PEM client certificate (mutual TLS)")
    parser.add_argument("--client-key", help="PEM key of --client-cert")


async def connect(addr, args):
    """An AsyncIoStream to ADDR, over TLS if args.ca is set."""
    host, port = split_addr(addr)
    if not args.ca:
        return await capnp.AsyncIoStream.create_connection(host=host, port=port)
    ctx = client_tls(args.ca, args.client_cert, args.client_key)
    return await capnp.AsyncIoStream.create_connection(
        host=host, port=port, ssl=ctx, server_hostname=args.server_name or host
    )
