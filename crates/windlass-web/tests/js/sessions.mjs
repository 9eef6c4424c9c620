// Long-lived capnweb WebSocket sessions, each calling the Calculator over and over: for the
// balancer test (crates/windlass-calc/tests/haproxy.rs), which kills one node behind HAProxy and
// checks that only that node's sessions end.
// Usage: node sessions.mjs <ws-url> <sessions>
// 1. Opens the sessions; when every one has answered a first call, prints `{"ready":true}`.
// 2. Keeps calling on each session (one call at a time, ~20 ms apart) until a line arrives on
//    stdin (the test writes one after the kill), then for 1.5 s more.
// 3. Prints one JSON line: per session whether it broke and how many calls succeeded after the
//    stdin line, then exits 0. Bounded: every session stops at 10,000 calls or 60 s.
import { pathToFileURL } from "node:url";
import { createInterface } from "node:readline";

const entry = process.env.CAPNWEB_MODULE;
const { newWebSocketRpcSession } = await import(entry ? pathToFileURL(entry).href : "capnweb");

const [url, count] = process.argv.slice(2);
const sessions = Number(count);
if (!url || !Number.isInteger(sessions) || sessions < 1) {
  console.error("usage: node sessions.mjs <ws-url> <sessions>");
  process.exit(2);
}
if (typeof WebSocket === "undefined") {
  console.error("this node has no global WebSocket (node >= 22, or --experimental-websocket)");
  process.exit(2);
}

const MAX_CALLS = 10_000;
const deadline = Date.now() + 60_000;
let marked = false;
let stopAt = Infinity;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function one(index, ready) {
  const calc = newWebSocketRpcSession(url);
  const state = { broke: false, error: null, afterMark: 0, calls: 0 };
  let announced = false;
  while (state.calls < MAX_CALLS && Date.now() < Math.min(stopAt, deadline)) {
    const n = index * 100_000 + state.calls;
    try {
      const { value } = await calc.evaluate({ literal: n }).value.read();
      if (value !== n) throw new Error(`session ${index}: ${n} evaluated to ${value}`);
    } catch (error) {
      state.broke = true;
      state.error = String(error?.message ?? error);
      break;
    } finally {
      if (!announced) {
        announced = true;
        ready();
      }
    }
    state.calls += 1;
    if (marked) state.afterMark += 1;
    await sleep(20);
  }
  return state;
}

let pending = sessions;
let allReady;
const readyAll = new Promise((resolve) => (allReady = resolve));
const ready = () => {
  pending -= 1;
  if (pending === 0) allReady();
};
const runs = Array.from({ length: sessions }, (_, i) => one(i, ready));
await readyAll;
console.log(JSON.stringify({ ready: true }));

const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => {
  lines.once("line", resolve);
  lines.once("close", resolve);
});
marked = true;
stopAt = Date.now() + 1500;
const results = await Promise.all(runs);
lines.close();
console.log(JSON.stringify({ sessions: results }));
process.exit(0);
