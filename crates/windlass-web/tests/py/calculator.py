"""Runs one check of the Calculator against a windlass-web server with py-capnweb.

Usage: python calculator.py <ws|batch> <url> <check>
Prints the check's outcome as one JSON line {"check", "transport", "ok", "result"} and exits 0,
or prints the failure and exits 1. Driven by tests/capnweb_py.rs, the Python twin of
tests/js/calculator.mjs; the version is pinned in requirements.txt.

py-capnweb 0.5.0 cannot do most of calculator.mjs's checks (docs/web.md, "Python
(py-capnweb)"): it cannot pass a promise as an argument, escapes its own exports as literal
arrays, and its WebSocket client sends binary frames. The checks here are the ones its API can
express, plus two that record how the server answers its wrong wire forms, so that a new
version that fixes them fails the test and the real checks can be turned on.
"""

import asyncio
import json
import logging
import sys

from capnweb.client import Client, ClientConfig
from capnweb.error import RpcError
from capnweb.types import RpcTarget

# How long a check may wait for the server (localhost; py-capnweb's own default is 30 s).
TIMEOUT = 10.0


def lit(x):
    return {"literal": x}


def call(function, *params):
    return {"call": {"function": function, "params": list(params)}}


def expect_equal(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {json.dumps(got)}, want {json.dumps(want)}")


async def rejection(promise):
    """The error message a promise rejects with, or what it resolved to."""
    try:
        return {"resolved": await promise}
    except RpcError as error:
        return {"message": error.message}


def read_value(batch, promise):
    """`promise.value.read()`, pipelined in `batch`.

    py-capnweb's PipelinePromise pipelines property gets but not method calls; a call on a
    promised result is `batch.call` with the promise's import id as the target and the property
    path before the method, which is what PipelinePromise does itself. The id is not public.
    """
    return batch.call(promise._import_id.value, "read", [], property_path=["value"])


async def batch_literal(client):
    """evaluate({literal: 3}).value.read(), the read pipelined on the unresolved Value."""
    batch = client.pipeline()
    read = await read_value(batch, batch.call(0, "evaluate", [lit(3)]))
    expect_equal(read, {"value": 3}, "read")
    return read["value"]


async def batch_errors(client):
    """An unknown enum name and an unknown method reject their calls; the batch goes on."""
    batch = client.pipeline()
    bad_enum = rejection(batch.call(0, "getOperator", ["addd"]))
    bad_method = rejection(batch.call(0, "noSuchMethod", [1]))
    good = read_value(batch, batch.call(0, "evaluate", [lit(7)]))
    e1, e2, ok = await asyncio.gather(bad_enum, bad_method, good)
    if "addd" not in e1.get("message", ""):
        raise AssertionError(f"unknown enum: {json.dumps(e1)}")
    if "noSuchMethod" not in e2.get("message", ""):
        raise AssertionError(f"unknown method: {json.dumps(e2)}")
    expect_equal(ok["value"], 7, "the session goes on")
    return [e1["message"], e2["message"]]


class Pow(RpcTarget):
    """pow(params[0], params[1]), the client-side function of calculator.mjs's callback check."""

    def __init__(self):
        self.calls = 0

    async def call(self, method, args):
        self.calls += 1
        return args[0] ** args[1]

    async def get_property(self, prop):
        raise RpcError.not_found(f"no property {prop}")


async def batch_callback(client):
    """A local RpcTarget as the function of an expression: pow(2, 7).

    py-capnweb's batch pipeline does not serialize stubs, so this is `Client.call` (one call per
    request). Reports the outcome; tests/capnweb_py.rs says which outcome is expected.
    """
    target = Pow()
    stub = client.create_stub(target)
    outcome = await rejection(client.call(0, "evaluate", [call(stub, lit(2), lit(7))]))
    if "resolved" in outcome:
        # A Value stub is no JSON; its presence is the news.
        outcome = {"resolved": "a Value"}
    return {"outcome": outcome, "calls": target.calls}


async def ws_frames(client):
    """The simplest call over py-capnweb's WebSocket client; reports how the server answered.

    Waits for the call or for the socket to close, whichever is first (on a close py-capnweb
    would wait out its own 10 s timeout).
    """
    call_task = asyncio.ensure_future(client.call(0, "evaluate", [lit(3)]))
    ws = client._transport._ws  # aiohttp's socket: the only place the close code is kept
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not call_task.done() and not ws.closed and loop.time() < deadline:
        await asyncio.sleep(0.02)
    if call_task.done():
        outcome = await rejection(call_task)
        if "resolved" in outcome:
            outcome = {"resolved": "a result"}
    else:
        call_task.cancel()
        outcome = {"pending": True}
    return {"close_code": ws.close_code, "call": outcome}


CHECKS = {
    ("batch", "literal"): batch_literal,
    ("batch", "errors"): batch_errors,
    ("batch", "callback"): batch_callback,
    ("ws", "frames"): ws_frames,
}


async def main(transport, url, check):
    run = CHECKS.get((transport, check))
    if run is None:
        known = ", ".join(f"{t} {c}" for t, c in CHECKS)
        print(f"unknown check {transport} {check}; known: {known}", file=sys.stderr)
        return 2
    client = Client(ClientConfig(url=url, timeout=TIMEOUT))
    try:
        if transport == "ws":
            # Connects and starts the listener; the batch client makes its transport on first use
            # (entering it here too would leak an aiohttp session).
            await client.__aenter__()
        result = await asyncio.wait_for(run(client), TIMEOUT)
        line = {"check": check, "transport": transport, "ok": True, "result": result}
        code = 0
    except Exception as error:  # report every failure as the one JSON line
        line = {"check": check, "transport": transport, "ok": False, "error": repr(error)}
        code = 1
    finally:
        await client.close()
    print(json.dumps(line))
    return code


if __name__ == "__main__":
    # py-capnweb's WebSocket listener logs a traceback every 0.1 s once the socket is closed;
    # the outcome is in the JSON line.
    logging.getLogger("capnweb").setLevel(logging.CRITICAL)
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(*sys.argv[1:])))
