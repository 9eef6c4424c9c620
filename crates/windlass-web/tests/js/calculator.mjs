// Runs one check of the Calculator against a windlass-web server with the stock capnweb client.
// Usage: node calculator.mjs <ws|batch> <url> <check>
// Prints the check's result as one JSON line and exits 0, or prints the failure and exits 1.
// Driven by tests/capnweb_js.rs; every check makes all its calls in one session (for `batch`,
// one HTTP request), so pipelining is what makes it work.
import { pathToFileURL } from "node:url";

// CAPNWEB_MODULE (set by the Rust test) is the file of an installed capnweb's ESM entry, so the
// package may be installed anywhere; without it, this directory's node_modules is used.
const entry = process.env.CAPNWEB_MODULE;
const { newHttpBatchRpcSession, newWebSocketRpcSession } =
  await import(entry ? pathToFileURL(entry).href : "capnweb");

const [transport, url, check] = process.argv.slice(2);

function session() {
  if (transport === "ws") {
    if (typeof WebSocket === "undefined") {
      throw new Error("this node has no global WebSocket (node >= 22, or --experimental-websocket)");
    }
    return newWebSocketRpcSession(url);
  }
  return newHttpBatchRpcSession(url);
}

function expectEqual(got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

async function rejection(promise) {
  try {
    const value = await promise;
    return { resolved: value };
  } catch (error) {
    return { message: String(error?.message ?? error) };
  }
}

const lit = (x) => ({ literal: x });
const call = (fn, ...params) => ({ call: { function: fn, params } });

const checks = {
  // evaluate({literal: 3}).value.read(), the read pipelined on the unresolved Value.
  async literal(api) {
    const read = await api.evaluate(lit(3)).value.read();
    expectEqual(read, { value: 3 }, "read");
    return read.value;
  },

  // getOperator("add") passed, unawaited, as the function of an expression.
  async operator(api) {
    const add = api.getOperator("add");
    const read = await api.evaluate(call(add.func, lit(2), lit(3))).value.read();
    expectEqual(read.value, 5, "2 + 3");
    return read.value;
  },

  // The calculator sample: 123 + 45 - 67 in one expression, and 4 * 6 used by two more
  // evaluations through previousResult, all pipelined.
  async nested(api) {
    const add = api.getOperator("add").func;
    const subtract = api.getOperator("subtract").func;
    const multiply = api.getOperator("multiply").func;
    const first = api.evaluate(call(subtract, call(add, lit(123), lit(45)), lit(67))).value.read();
    const product = api.evaluate(call(multiply, lit(4), lit(6))).value;
    const plus3 = api.evaluate(call(add, { previousResult: product }, lit(3))).value.read();
    const plus5 = api.evaluate(call(add, { previousResult: product }, lit(5))).value.read();
    const got = (await Promise.all([first, plus3, plus5])).map((r) => r.value);
    expectEqual(got, [101, 27, 29], "sample results");
    return got;
  },

  // defFunction: f(x, y) = x * 100 + y, g(x) = f(x, x + 1) * 2; f(12, 34), g(21).
  async deffunction(api) {
    const add = api.getOperator("add").func;
    const multiply = api.getOperator("multiply").func;
    const f = api.defFunction(2, call(add, call(multiply, { parameter: 0 }, lit(100)), { parameter: 1 })).func;
    const g = api.defFunction(1, call(multiply, call(f, { parameter: 0 }, call(add, { parameter: 0 }, lit(1))), lit(2))).func;
    const fr = api.evaluate(call(f, lit(12), lit(34))).value.read();
    const gr = api.evaluate(call(g, lit(21))).value.read();
    const got = (await Promise.all([fr, gr])).map((r) => r.value);
    expectEqual(got, [1234, 4244], "f(12, 34), g(21)");
    return got;
  },

  // A function of the client's, called back by the server: pow(2, 4 + 3) = 128. Over HTTP batch
  // the client cannot answer before the response, so the server must reject it, not hang.
  async callback(api) {
    let calls = 0;
    const pow = (params) => { calls += 1; return Math.pow(params[0], params[1]); };
    const add = api.getOperator("add").func;
    const result = rejection(api.evaluate(call(pow, lit(2), call(add, lit(4), lit(3)))).value.read());
    const after = api.evaluate(lit(9)).value.read();
    const [outcome, still] = await Promise.all([result, after]);
    expectEqual(still.value, 9, "the session goes on");
    if (transport === "ws") {
      expectEqual(outcome, { resolved: { value: 128 } }, "pow(2, 7)");
      expectEqual(calls, 1, "callback calls");
    } else if (!/HTTP batch/.test(outcome.message ?? "")) {
      throw new Error(`expected a clear rejection over HTTP batch, got ${JSON.stringify(outcome)}`);
    }
    return outcome;
  },

  // Ten dependent evaluations, each taking the previous Value, awaited only at the end: one
  // HTTP request for the whole chain.
  async chain(api) {
    const add = api.getOperator("add").func;
    let value = api.evaluate(lit(0)).value;
    for (let i = 0; i < 10; i++) {
      value = api.evaluate(call(add, { previousResult: value }, lit(1))).value;
    }
    const read = await value.read();
    expectEqual(read.value, 10, "chain");
    return read.value;
  },

  // capnweb's .map() (a `remap` message): the mapper runs on the server, over one value here
  // (getOperator's result), calling the captured stub and the value's own capability.
  async map(api) {
    const read = await api.getOperator("multiply").map((op) =>
      api.evaluate({ call: { function: op.func, params: [lit(6), lit(7)] } }).value.read());
    expectEqual(read, { value: 42 }, "mapped 6 * 7");
    return read.value;
  },

  // An unknown enum name and an unknown method reject their calls; the session goes on.
  async errors(api) {
    const badEnum = rejection(api.getOperator("addd"));
    const badMethod = rejection(api.noSuchMethod(1));
    const good = api.evaluate(lit(7)).value.read();
    const [e1, e2, ok] = await Promise.all([badEnum, badMethod, good]);
    if (!e1.message || !/addd/.test(e1.message)) throw new Error(`unknown enum: ${JSON.stringify(e1)}`);
    if (!e2.message || !/noSuchMethod/.test(e2.message)) throw new Error(`unknown method: ${JSON.stringify(e2)}`);
    expectEqual(ok.value, 7, "the session goes on");
    return [e1.message, e2.message];
  },
};

const run = checks[check];
if (!run) {
  console.error(`unknown check ${check}; known: ${Object.keys(checks).join(", ")}`);
  process.exit(2);
}
const api = session();
try {
  const result = await run(api);
  console.log(JSON.stringify({ check, transport, ok: true, result }));
  if (transport === "ws") api[Symbol.dispose]();
  process.exit(0);
} catch (error) {
  console.log(JSON.stringify({ check, transport, ok: false, error: String(error?.stack ?? error) }));
  process.exit(1);
}
