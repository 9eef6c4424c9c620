#!/usr/bin/env python3
"""A Calculator server built on pycapnp, the peer windlass's client is tested against.

Usage: calc_server.py [--listen HOST:PORT] [--tls-cert PEM --tls-key PEM [--client-ca PEM]]

Prints `listening on HOST:PORT` (the real port when asked for port 0) on stdout once it accepts
connections, then serves until killed. Errors it raises carry a recognisable text, so tests can
check that they reach a windlass client intact.
"""

import argparse
import asyncio
import math
import sys

import capnp

from pyinterop import load_schema, server_tls, split_addr

calculator_capnp = load_schema("calculator.capnp")
Calculator = calculator_capnp.Calculator

OPERATORS = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: ieee_divide(a, b),
}


def ieee_divide(a, b):
    """a / b as IEEE 754 (and the C++ reference server) has it: 1/0 = inf, 0/0 = NaN."""
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


async def evaluate(expression, params):
    """The value of EXPRESSION; PARAMS is None outside a function body."""
    kind = expression.which()
    if kind == "literal":
        return expression.literal
    if kind == "previousResult":
        return (await expression.previousResult.read()).value
    if kind == "parameter":
        index = expression.parameter
        if params is None:
            raise ValueError(f"pycapnp server: parameter {index} outside a function body")
        if index >= len(params):
            raise ValueError(f"pycapnp server: parameter {index} out of range ({len(params)})")
        return params[index]
    if kind == "call":
        call = expression.call
        args = await asyncio.gather(*(evaluate(arg, params) for arg in call.params))
        return (await call.function.call(list(args))).value
    raise ValueError(f"pycapnp server: unknown expression kind {kind}")


class Value(Calculator.Value.Server):
    def __init__(self, value):
        self.value = value

    async def read(self, **kwargs):
        return self.value


class Operator(Calculator.Function.Server):
    def __init__(self, name):
        self.name = name

    async def call(self, params, **kwargs):
        if len(params) != 2:
            raise ValueError(f"pycapnp server: {self.name} takes 2 parameters, got {len(params)}")
        return OPERATORS[self.name](params[0], params[1])


class Defined(Calculator.Function.Server):
    """A function defined by defFunction: its body is evaluated with the call's parameters."""

    def __init__(self, param_count, body):
        self.param_count = param_count
        # The request's reader dies with the call; keep a copy of the body.
        self.body = body.as_builder()

    async def call(self, params, **kwargs):
        if len(params) != self.param_count:
            raise ValueError(
                f"pycapnp server: function takes {self.param_count} parameters, got {len(params)}"
            )
        return await evaluate(self.body, list(params))


class CalculatorImpl(Calculator.Server):
    async def evaluate(self, expression, **kwargs):
        return Value(await evaluate(expression, None))

    async def defFunction(self, paramCount, body, **kwargs):
        if paramCount < 0:
            raise ValueError(f"pycapnp server: negative paramCount {paramCount}")
        return Defined(paramCount, body)

    async def getOperator(self, op, **kwargs):
        return Operator(str(op))


async def serve_connection(stream):
    await capnp.TwoPartyServer(stream, bootstrap=CalculatorImpl()).on_disconnect()


async def main(args):
    host, port = split_addr(args.listen)
    ssl_ctx = None
    if args.tls_cert:
        ssl_ctx = server_tls(args.tls_cert, args.tls_key, args.client_ca)
    server = await capnp.AsyncIoStream.create_server(serve_connection, host, port, ssl=ssl_ctx)
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    print(f"listening on {bound_host}:{bound_port}", flush=True)
    async with server:
        await server.serve_forever()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any)")
    parser.add_argument("--tls-cert", help="PEM certificate; turns TLS on")
    parser.add_argument("--tls-key", help="PEM key of --tls-cert")
    parser.add_argument("--client-ca", help="require client certificates signed by this CA")
    args = parser.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    # A fresh loop rather than asyncio.run: the latter trips over an asyncio TLS shutdown bug
    # (bpo-36709) on some Python versions, as pycapnp's own TLS examples note.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(capnp.run(main(arguments)))
    except KeyboardInterrupt:
        sys.exit(130)
