// The load client of windlass-bench's `web` bench: the stock capnweb client against any server of
// the Calculator's Cap'n Web mapping (windlass-calc serve --web, calculator-server.mjs).
// Usage: node load.mjs --url http://HOST:PORT/capnweb --mode MODE [--secs S] [--count N]
//                      [--warmup-secs W] [--sync]
// Modes (one "call" is one `evaluate`; one "op" is what a latency sample times):
//   seq           one WebSocket session, one call at a time: evaluate({literal: i}).value.read(),
//                 the read pipelined on the unresolved Value (one round trip per call).
//   inflight=N    the same calls on one WebSocket session, N outstanding at any time.
//   single        one HTTP batch request per op holding that one call.
//   batch10       one HTTP batch request per op holding 10 dependent calls: evaluate(literal),
//                 then 9 × evaluate(add(previousResult, 1)) each on the previous Value (plus the
//                 getOperator("add") they share and the final read).
//   ten-requests  10 HTTP batch requests per op, one after another, each one call whose literal
//                 is the previous request's result + 1: the chain without pipelining.
// Stops after S seconds (default 2) or N ops (default 1e6), whichever comes first, after W
// seconds of the same load that are not counted (default 0.5). Prints one JSON line: mode, ops,
// calls, seconds, calls_per_sec, ops_per_sec, latency_us {p50, p90, p99, max} per op, and
// client_cpu_us_per_call. With --sync it first prints {"ready":true} once warmed up and waits for
// a line on stdin before measuring, then after the result waits for stdin to close before it
// closes its session, so the caller can read the server's CPU time around exactly the counted
// calls.
import { createInterface } from "node:readline";
import { newHttpBatchRpcSession, newWebSocketRpcSession } from "capnweb";
import { WebSocket as WsSocket } from "ws";

// capnweb reads `WebSocket.CONNECTING` from the global (Node 20 has none without a flag). The
// client socket is always ws's, so both servers see the same client on any Node version.
globalThis.WebSocket ??= WsSocket;

function parseArgs(argv) {
  const args = { secs: 2, count: 1e6, warmupSecs: 0.5, sync: false };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
      return argv[++i];
    };
    switch (argv[i]) {
      case "--url": args.url = value(); break;
      case "--mode": args.mode = value(); break;
      case "--secs": args.secs = Number(value()); break;
      case "--count": args.count = Number(value()); break;
      case "--warmup-secs": args.warmupSecs = Number(value()); break;
      case "--sync": args.sync = true; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!args.url || !args.mode) throw new Error("--url and --mode are required");
  if (!(args.secs > 0) || !(args.count >= 1)) throw new Error("--secs and --count must be > 0");
  return args;
}

const lit = (x) => ({ literal: x });
const call = (fn, ...params) => ({ call: { function: fn, params } });

function expect(got, want) {
  if (got !== want) throw new Error(`wrong result: got ${got}, want ${want}`);
}

// One evaluate + pipelined read on `api`; the evaluate's own promise is released afterwards so
// that a long session does not grow the server's tables.
async function oneCall(api, x) {
  const evaluated = api.evaluate(lit(x));
  try {
    const read = await evaluated.value.read();
    expect(read.value, x);
    return read.value;
  } finally {
    evaluated[Symbol.dispose]();
  }
}

function httpSession(url) {
  return newHttpBatchRpcSession(url);
}

// What one op does, and how many calls it makes, per mode.
function modeOf(name, url) {
  const inflight = /^inflight=(\d+)$/.exec(name);
  if (name === "seq" || inflight) {
    const depth = inflight ? Number(inflight[1]) : 1;
    const ws = new WsSocket(url.replace(/^http/, "ws"));
    const api = newWebSocketRpcSession(ws);
    return { depth, calls: 1, op: (i) => oneCall(api, i), close: () => api[Symbol.dispose]() };
  }
  const modes = {
    single: { calls: 1, op: (i) => oneCall(httpSession(url), i) },
    batch10: {
      calls: 10,
      async op(i) {
        const api = httpSession(url);
        const add = api.getOperator("add").func;
        let value = api.evaluate(lit(i)).value;
        for (let k = 1; k < 10; k++) {
          value = api.evaluate(call(add, { previousResult: value }, lit(1))).value;
        }
        expect((await value.read()).value, i + 9);
      },
    },
    "ten-requests": {
      calls: 10,
      async op(i) {
        let x = i;
        for (let k = 0; k < 10; k++) x = (await oneCall(httpSession(url), x + (k > 0 ? 1 : 0)));
        expect(x, i + 9);
      },
    },
  };
  const mode = modes[name];
  if (!mode) throw new Error(`unknown mode ${name}`);
  return { depth: 1, close() {}, ...mode };
}

// Runs `mode` with `depth` ops outstanding until `secs` pass or `count` ops are done; returns
// each op's latency in ms.
async function run(mode, secs, count) {
  const latencies = [];
  const deadline = performance.now() + secs * 1000;
  let started = 0;
  async function worker() {
    while (started < count && performance.now() < deadline) {
      const i = started++;
      const t0 = performance.now();
      await mode.op(i);
      latencies.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: mode.depth }, worker));
  return latencies;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const mode = modeOf(args.mode, args.url);
  const lines = args.sync ? createInterface({ input: process.stdin })[Symbol.asyncIterator]() : null;
  if (args.warmupSecs > 0) await run(mode, args.warmupSecs, args.count);
  if (lines) {
    console.log(JSON.stringify({ ready: true }));
    await lines.next();
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const latencies = await run(mode, args.secs, args.count);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const ops = latencies.length;
  const calls = ops * mode.calls;
  const sorted = Float64Array.from(latencies).sort();
  const us = (ms) => Math.round(ms * 1000 * 10) / 10;
  console.log(JSON.stringify({
    mode: args.mode,
    ops,
    calls,
    seconds,
    calls_per_sec: calls / seconds,
    ops_per_sec: ops / seconds,
    latency_us: {
      p50: us(percentile(sorted, 50)),
      p90: us(percentile(sorted, 90)),
      p99: us(percentile(sorted, 99)),
      max: us(sorted.length ? sorted[sorted.length - 1] : 0),
    },
    client_cpu_us_per_call: calls ? (cpu.user + cpu.system) / calls : 0,
  }));
  if (lines) while (!(await lines.next()).done);
  mode.close();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(String(error?.stack ?? error));
    process.exit(1);
  },
);
