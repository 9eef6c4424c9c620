// capnweb's own Node server with the Calculator semantics of windlass-web's mapping of
// calculator.capnp, the contender of windlass-bench's `web` bench. Our code, not capnweb's sample.
// Usage: node calculator-server.mjs [PORT]   (0 or nothing: a free port)
// Prints `Cap'n Web at http://127.0.0.1:PORT/capnweb` (the line windlass-calc prints) once
// listening; serves WebSocket sessions (the `ws` package) and HTTP batch
// (`nodeHttpBatchRpcResponse`) at /capnweb, a new Calculator per session like windlass.
//
// The shapes are the mapping's (crates/windlass-web/tests/js/calculator.mjs runs unchanged
// against it, except the `callback` check): `evaluate(expression)` -> `{value: Value}`, where
// Value has `read()` -> `{value: number}`; `getOperator(op)` -> `{func: Function}`;
// `defFunction(paramCount, body)` -> `{func: Function}`; Function has `call(params)` ->
// `{value}`. An expression has exactly one of `literal`, `previousResult` (a Value),
// `parameter` (an index) or `call: {function, params}`.
import http from "node:http";
import { nodeHttpBatchRpcResponse, newWebSocketRpcSession, RpcTarget } from "capnweb";
import { WebSocket as WsSocket, WebSocketServer } from "ws";

// capnweb reads `WebSocket.CONNECTING` from the global, which Node 20 has only with
// --experimental-websocket; ws's class has the same constants.
globalThis.WebSocket ??= WsSocket;

const PATH = "/capnweb";

class Value extends RpcTarget {
  #value;
  constructor(value) {
    super();
    this.#value = value;
  }
  read() {
    return { value: this.#value };
  }
}

class Operator extends RpcTarget {
  #apply;
  constructor(apply) {
    super();
    this.#apply = apply;
  }
  call(params) {
    if (!Array.isArray(params) || params.length !== 2) {
      throw new Error(`an operator takes 2 parameters, got ${JSON.stringify(params)}`);
    }
    return { value: this.#apply(params[0], params[1]) };
  }
}

const OPERATORS = {
  add: (a, b) => a + b,
  subtract: (a, b) => a - b,
  multiply: (a, b) => a * b,
  divide: (a, b) => a / b,
};

// A function defined by the client: its body is evaluated with the call's parameters.
class Defined extends RpcTarget {
  #paramCount;
  #body;
  constructor(paramCount, body) {
    super();
    this.#paramCount = paramCount;
    this.#body = body;
  }
  async call(params) {
    if (!Array.isArray(params) || params.length !== this.#paramCount) {
      throw new Error(`expected ${this.#paramCount} parameters, got ${JSON.stringify(params)}`);
    }
    return { value: await evaluate(this.#body, params) };
  }
}

function which(expression) {
  const keys = expression && typeof expression === "object" ? Object.keys(expression) : [];
  if (keys.length !== 1) {
    throw new Error(`an expression has exactly one of literal, previousResult, parameter, call`);
  }
  return keys[0];
}

async function evaluate(expression, params) {
  switch (which(expression)) {
    case "literal":
      return Number(expression.literal);
    case "previousResult":
      return (await expression.previousResult.read()).value;
    case "parameter": {
      const index = expression.parameter;
      if (!Number.isInteger(index) || index < 0 || index >= params.length) {
        throw new Error(`parameter ${index} out of range`);
      }
      return params[index];
    }
    case "call": {
      const { function: fn, params: args } = expression.call;
      const values = await Promise.all((args ?? []).map((arg) => evaluate(arg, params)));
      return (await fn.call(values)).value;
    }
    default:
      throw new Error(`unknown expression ${JSON.stringify(Object.keys(expression))}`);
  }
}

// Stubs in a call's parameters are disposed when the call returns (capnweb's ownership rule), so
// a function body that keeps them for later calls duplicates each.
function keep(expression) {
  switch (which(expression)) {
    case "previousResult":
      return { previousResult: expression.previousResult.dup() };
    case "call": {
      const { function: fn, params } = expression.call;
      return { call: { function: fn.dup(), params: (params ?? []).map(keep) } };
    }
    default:
      return expression;
  }
}

class Calculator extends RpcTarget {
  async evaluate(expression) {
    return { value: new Value(await evaluate(expression, [])) };
  }
  getOperator(op) {
    const apply = OPERATORS[op];
    if (!apply) throw new Error(`unknown operator ${JSON.stringify(op)}`);
    return { func: new Operator(apply) };
  }
  defFunction(paramCount, body) {
    return { func: new Defined(paramCount, keep(body)) };
  }
}

const server = http.createServer((request, response) => {
  if (new URL(request.url, "http://x").pathname !== PATH || request.method !== "POST") {
    response.writeHead(404).end();
    return;
  }
  nodeHttpBatchRpcResponse(request, response, new Calculator()).catch((error) => {
    if (!response.headersSent) response.writeHead(500);
    response.end(String(error?.message ?? error));
  });
});
const sockets = new WebSocketServer({ noServer: true });
server.on("upgrade", (request, socket, head) => {
  if (new URL(request.url, "http://x").pathname !== PATH) {
    socket.destroy();
    return;
  }
  sockets.handleUpgrade(request, socket, head, (ws) => {
    newWebSocketRpcSession(ws, new Calculator());
  });
});

const port = Number(process.argv[2] ?? 0);
server.listen(port, "127.0.0.1", () => {
  const { port } = server.address();
  console.log(`Cap'n Web at http://127.0.0.1:${port}/capnweb`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
