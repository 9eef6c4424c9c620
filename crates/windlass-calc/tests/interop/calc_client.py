#!/usr/bin/env python3
"""A Calculator client built on pycapnp, run against windlass's server (and, as a control,
against calc_server.py).

Usage: calc_client.py HOST:PORT [--ca PEM [--server-name NAME] [--client-cert PEM --client-key PEM]]
                      [--windlass-errors | --die-in-callback | --oversized-call N]

Runs the scenario of the reference calculator client — a literal, add/subtract, pipelined
previousResult, defFunction, a Python-side callback Function — plus a burst of concurrent
pipelined calls. With --windlass-errors it also sends bad requests and checks that windlass's
error messages arrive as pycapnp exceptions with their text intact, and that the connection
survives them. Prints `PASS name` or `FAIL name: why` per check and `N/M checks passed`; exits 1
if any check failed. With --die-in-callback it instead exits abruptly in the middle of a call, to
show that the server shrugs off a peer that vanishes; with --oversized-call N it only sends one
call of N arguments and reports how a server with a message size limit refuses it.
"""

import argparse
import asyncio
import math
import os
import sys

import capnp

from pyinterop import add_tls_client_args, connect, load_schema

calculator_capnp = load_schema("calculator.capnp")
Calculator = calculator_capnp.Calculator


class Pow(Calculator.Function.Server):
    """x ** y, implemented here: the server calls back into this process to use it."""

    def __init__(self):
        self.calls = 0

    async def call(self, params, **kwargs):
        self.calls += 1
        return params[0] ** params[1]


class Failing(Calculator.Function.Server):
    """A callback that always raises, to see the error travel server -> back to us."""

    async def call(self, params, **kwargs):
        raise ValueError("callback refused: python-side error 0451")


class Dying(Calculator.Function.Server):
    """A callback that kills this process while the server waits on it: no RPC Abort, no TLS
    close, just a closed socket in the middle of a call."""

    async def call(self, params, **kwargs):
        print("callback entered: exiting abruptly", flush=True)
        os._exit(DIED)


DIED = 3


def binary(call, function, left, right):
    """Fills CALL (an Expression.call builder) with FUNCTION(left, right); each side is a number,
    a ("param", i) pair, a ("previous", Value) pair or a callable filling the expression."""
    call.function = function
    params = call.init("params", 2)
    for slot, arg in zip(params, (left, right)):
        fill(slot, arg)


def fill(expression, arg):
    if callable(arg):
        arg(expression)
    elif isinstance(arg, tuple) and arg[0] == "param":
        expression.parameter = arg[1]
    elif isinstance(arg, tuple) and arg[0] == "previous":
        expression.previousResult = arg[1]
    else:
        expression.literal = arg


def nested(function, left, right):
    return lambda expression: binary(expression.init("call"), function, left, right)


async def read_value(value_promise):
    return (await value_promise.read()).value


class Scenario:
    def __init__(self, calc):
        self.calc = calc

    def op(self, name):
        # Pipelined: the Function is used before getOperator has returned.
        return self.calc.getOperator(op=name).func

    async def literal(self):
        return await read_value(self.calc.evaluate({"literal": 123}).value)

    async def add_subtract(self):
        request = self.calc.evaluate_request()
        add = nested(self.op("add"), 123, 45)
        binary(request.expression.init("call"), self.op("subtract"), add, 67)
        return await read_value(request.send().value)

    async def pipelined_previous_result(self):
        add, multiply = self.op("add"), self.op("multiply")
        request = self.calc.evaluate_request()
        binary(request.expression.init("call"), multiply, 4, 6)
        product = request.send().value  # never awaited: only used as previousResult
        pending = []
        for addend in (3, 5):
            request = self.calc.evaluate_request()
            binary(request.expression.init("call"), add, ("previous", product), addend)
            pending.append(read_value(request.send().value))
        return tuple(await asyncio.gather(*pending))

    async def def_function(self):
        add, multiply = self.op("add"), self.op("multiply")
        # f(x, y) = x * 100 + y
        request = self.calc.defFunction_request()
        request.paramCount = 2
        binary(request.body.init("call"), add, nested(multiply, ("param", 0), 100), ("param", 1))
        f = request.send().func
        # g(x) = f(x, x + 1) * 2
        request = self.calc.defFunction_request()
        request.paramCount = 1
        f_of_x = nested(f, ("param", 0), nested(add, ("param", 0), 1))
        binary(request.body.init("call"), multiply, f_of_x, 2)
        g = request.send().func

        request = self.calc.evaluate_request()
        binary(request.expression.init("call"), f, 12, 34)
        f_value = read_value(request.send().value)
        request = self.calc.evaluate_request()
        call = request.expression.init("call")
        call.function = g
        call.init("params", 1)[0].literal = 21
        g_value = read_value(request.send().value)
        return tuple(await asyncio.gather(f_value, g_value))

    async def callback(self):
        pow_ = Pow()
        request = self.calc.evaluate_request()
        binary(request.expression.init("call"), pow_, 2, nested(self.op("add"), 4, 5))
        value = await read_value(request.send().value)
        return value, pow_.calls

    async def wide_call(self):
        """A defined function of 10,000 parameters called with 10,000 arguments: an ~80 kB call
        that the C++ message builder spreads over several segments."""
        count = 10_000
        request = self.calc.defFunction_request()
        request.paramCount = count
        binary(request.body.init("call"), self.op("subtract"), ("param", count - 1), ("param", 0))
        f = request.send().func
        return (await f.call([float(i) for i in range(count)])).value

    async def divide_by_zero(self):
        request = self.calc.evaluate_request()
        binary(request.expression.init("call"), self.op("divide"), 1, 0)
        return await read_value(request.send().value)

    async def burst(self):
        """200 evaluate+read pairs in flight at once on one connection."""
        multiply = self.op("multiply")
        pending = []
        for i in range(200):
            request = self.calc.evaluate_request()
            binary(request.expression.init("call"), multiply, i, 2)
            pending.append(read_value(request.send().value))
        values = await asyncio.gather(*pending)
        return sum(values)

    # Error cases against windlass: the texts are windlass's own messages (src/calculator/ops.rs).

    async def error_parameter_outside_function(self):
        return await read_value(self.calc.evaluate({"parameter": 0}).value)

    async def error_negative_param_count(self):
        request = self.calc.defFunction_request()
        request.paramCount = -1
        request.body.literal = 1
        return await request.send()

    async def error_parameter_out_of_range(self):
        request = self.calc.defFunction_request()
        request.paramCount = 1
        request.body.parameter = 3
        return await request.send()

    async def error_operator_arity(self):
        return (await self.op("add").call([1, 2, 3])).value

    async def error_defined_function_arity(self):
        request = self.calc.defFunction_request()
        request.paramCount = 2
        request.body.parameter = 1
        f = request.send().func
        return (await f.call([7])).value

    async def error_from_python_callback(self):
        request = self.calc.evaluate_request()
        binary(request.expression.init("call"), Failing(), 1, 2)
        return await read_value(request.send().value)

    async def error_too_deep(self):
        """add(add(add(...))) 100 deep: past the nesting limit (64) every reader enforces."""
        request = self.calc.evaluate_request()
        expression, add = request.expression, self.op("add")
        for _ in range(100):
            call = expression.init("call")
            call.function = add
            params = call.init("params", 2)
            params[1].literal = 1
            expression = params[0]
        expression.literal = 0
        return await read_value(request.send().value)

    async def error_unknown_operator(self):
        request = self.calc.getOperator_request()
        request.op = 9  # not in the schema's enum; pycapnp writes the raw number
        return (await request.send().func.call([1, 2])).value


async def oversized_call(s, count):
    """Calls `add` with COUNT parameters, expecting the server to refuse the message: prints the
    exception type and text it sent (windlass aborts the connection with an explanation)."""
    try:
        got = (await s.op("add").call([1.0] * count)).value
    except capnp.KjException as e:
        print(f"PASS oversized call refused: {e.type}: {e.description}", flush=True)
        return True
    print(f"FAIL oversized call answered: {got!r}", flush=True)
    return False


async def expect_value(name, work, expected):
    try:
        got = await work()
    except Exception as e:  # noqa: BLE001 - a failed check reports any exception
        return f"FAIL {name}: {type(e).__name__}: {e}"
    ok = got == expected or (
        isinstance(expected, float) and isinstance(got, float) and math.isnan(expected) and math.isnan(got)
    )
    return f"PASS {name} = {got}" if ok else f"FAIL {name}: got {got!r}, expected {expected!r}"


async def expect_error(name, work, text, exact=True):
    """Expects WORK to fail with a FAILED exception carrying TEXT: the whole message after the
    "remote exception: " the C++ RPC layer puts in front of every error from the peer (EXACT),
    or somewhere in it (a relayed Python traceback)."""
    try:
        got = await work()
    except capnp.KjException as e:
        message = e.description.removeprefix("remote exception: ")
        intact = message == text if exact else text in message
        if intact and e.type == "FAILED":
            return f"PASS {name}: {e.type}: {text}"
        return f"FAIL {name}: error not intact: expected FAILED {text!r}, got {e.type} {message!r}"
    except Exception as e:  # noqa: BLE001
        return f"FAIL {name}: not a capnp.KjException: {type(e).__name__}: {e}"
    return f"FAIL {name}: expected an error containing {text!r}, got {got!r}"


async def main(args):
    stream = await connect(args.addr, args)
    client = capnp.TwoPartyClient(stream)
    calc = client.bootstrap().cast_as(Calculator)
    s = Scenario(calc)
    if args.die_in_callback:
        request = calc.evaluate_request()
        binary(request.expression.init("call"), Dying(), 1, 2)
        await read_value(request.send().value)
        print("FAIL the server never called back", flush=True)
        return False
    if args.oversized_call:
        return await oversized_call(s, args.oversized_call)
    checks = [
        expect_value("literal 123", s.literal, 123),
        expect_value("123 + 45 - 67 with pipelined operators", s.add_subtract, 101),
        expect_value("pipelined previousResult: 4 * 6 + 3, + 5", s.pipelined_previous_result, (27, 29)),
        expect_value("defFunction f(12, 34), g(21)", s.def_function, (1234, 4244)),
        expect_value("python callback pow(2, 4 + 5), called once", s.callback, (512, 1)),
        expect_value("1 / 0 is inf (IEEE 754)", s.divide_by_zero, math.inf),
        expect_value("10000 arguments in one multi-segment call", s.wide_call, 9999),
        expect_value("200 concurrent pipelined calls", s.burst, 2 * sum(range(200))),
    ]
    if args.windlass_errors:
        checks += [
            expect_error(
                "error: parameter outside a function",
                s.error_parameter_outside_function,
                "parameter 0 used outside a function body"
                " (only defFunction bodies have parameters)",
            ),
            expect_error(
                "error: negative paramCount",
                s.error_negative_param_count,
                "paramCount must not be negative, got -1",
            ),
            expect_error(
                "error: function body parameter out of range",
                s.error_parameter_out_of_range,
                "parameter 3 is out of range: the function has 1 parameter(s)",
            ),
            expect_error(
                "error: operator called with 3 arguments",
                s.error_operator_arity,
                "operator add takes 2 parameter(s) but was called with 3",
            ),
            expect_error(
                "error: defined function called with 1 argument",
                s.error_defined_function_arity,
                "function takes 2 parameter(s) but was called with 1",
            ),
            expect_error(
                "error: raised in a python callback, relayed by the server",
                s.error_from_python_callback,
                "callback refused: python-side error 0451",
                exact=False,
            ),
            expect_error(
                "error: unknown operator 9",
                s.error_unknown_operator,
                "unknown operator 9 (known: add=0, subtract=1, multiply=2, divide=3)",
            ),
            expect_error(
                "error: expression nested 100 deep",
                s.error_too_deep,
                "nesting limit exceeded",
                exact=False,
            ),
            expect_value("the connection still works after the errors", s.literal, 123),
        ]
    results = []
    for check in checks:  # one at a time, so the output order is the scenario's
        results.append(await check)
        print(results[-1], flush=True)
    passed = sum(r.startswith("PASS") for r in results)
    print(f"{passed}/{len(results)} checks passed", flush=True)
    return passed == len(results)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("addr", metavar="HOST:PORT")
    add_tls_client_args(parser)
    parser.add_argument(
        "--windlass-errors", action="store_true", help="also check windlass's error messages"
    )
    parser.add_argument(
        "--oversized-call",
        type=int,
        metavar="N",
        help="only call add with N parameters and report how the server refuses it",
    )
    parser.add_argument(
        "--die-in-callback",
        action="store_true",
        help=f"only send a call whose callback exits the process (status {DIED}) mid-call",
    )
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    loop = asyncio.new_event_loop()  # see calc_server.py for why not asyncio.run
    ok = loop.run_until_complete(capnp.run(main(arguments)))
    sys.exit(0 if ok else 1)
