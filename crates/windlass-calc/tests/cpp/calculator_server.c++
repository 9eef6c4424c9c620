// A Calculator server in C++ (kj/capnp 0.9, EzRpcServer): the peer of tests/web_cpp.rs, which
// puts `windlass-calc gateway` in front of it and checks that Cap'n Web clients and windlass's own
// Cap'n Proto client see the same Calculator as they do from `windlass-calc serve`.
//
// Written for windlass against crates/windlass-calculator/schemas/calculator.capnp; the test
// builds it (capnp compile -oc++, then g++ with `pkg-config capnp-rpc`), nothing checks it in
// built.
//
// Usage: calculator_server HOST:PORT   (PORT 0 picks a free one)
// Prints `listening on HOST:PORT` on stdout once bound, then serves until killed.

#include "calculator.capnp.h"

#include <capnp/ez-rpc.h>
#include <capnp/message.h>
#include <kj/async.h>
#include <kj/debug.h>

#include <cstdio>
#include <string>

namespace {

using Expression = Calculator::Expression;

// The number behind a `Value` capability; `evaluate` hands one out per result.
class HeldValue final : public Calculator::Value::Server {
 public:
  explicit HeldValue(double number) : number(number) {}

 protected:
  kj::Promise<void> read(ReadContext context) override {
    context.getResults().setValue(number);
    return kj::READY_NOW;
  }

 private:
  double number;
};

// Evaluates `expr`, looking `parameter` up in `args`. Both are read only before this returns (the
// continuations capture copies), so the caller need not keep them alive for the promise.
kj::Promise<double> evaluateExpression(Expression::Reader expr, kj::ArrayPtr<const double> args) {
  switch (expr.which()) {
    case Expression::LITERAL:
      return expr.getLiteral();

    case Expression::PREVIOUS_RESULT:
      return expr.getPreviousResult().readRequest().send().then(
          [](capnp::Response<Calculator::Value::ReadResults>&& answer) {
            return answer.getValue();
          });

    case Expression::PARAMETER: {
      auto index = expr.getParameter();
      KJ_REQUIRE(index < args.size(), "parameter index out of range", index, args.size());
      return args[index];
    }

    case Expression::CALL: {
      auto call = expr.getCall();
      auto operands = call.getParams();
      auto pending = kj::heapArrayBuilder<kj::Promise<double>>(operands.size());
      for (auto operand : operands) {
        pending.add(evaluateExpression(operand, args));
      }
      Calculator::Function::Client function = call.getFunction();
      return kj::joinPromises(pending.finish())
          .then([function](kj::Array<double>&& values) mutable {
            auto request = function.callRequest();
            auto list = request.initParams(values.size());
            for (size_t i = 0; i < values.size(); ++i) list.set(i, values[i]);
            return request.send().then(
                [](capnp::Response<Calculator::Function::CallResults>&& answer) {
                  return answer.getValue();
                });
          });
    }
  }
  KJ_FAIL_REQUIRE("expression of a kind this server does not know", (uint)expr.which());
}

// A `Function` defined by `defFunction`: its body is copied into a message of its own, since the
// request that carried it is gone once defFunction returns.
class DefinedFunction final : public Calculator::Function::Server {
 public:
  DefinedFunction(int32_t paramCount, Expression::Reader body) : paramCount(paramCount) {
    storage.setRoot(body);
  }

 protected:
  kj::Promise<void> call(CallContext context) override {
    auto given = context.getParams().getParams();
    KJ_REQUIRE(given.size() == (uint)paramCount, "wrong number of parameters", given.size(),
               paramCount);
    auto args = kj::heapArray<double>(given.size());
    for (uint i = 0; i < given.size(); ++i) args[i] = given[i];
    auto body = storage.getRoot<Expression>().asReader();
    return evaluateExpression(body, args.asPtr())
        .then([context](double result) mutable { context.getResults().setValue(result); })
        .attach(kj::mv(args));
  }

 private:
  int32_t paramCount;
  capnp::MallocMessageBuilder storage;
};

// One of the four operators, as a two-parameter `Function`.
class Arithmetic final : public Calculator::Function::Server {
 public:
  explicit Arithmetic(Calculator::Operator op) : op(op) {}

 protected:
  kj::Promise<void> call(CallContext context) override {
    auto given = context.getParams().getParams();
    KJ_REQUIRE(given.size() == 2, "an operator takes exactly two parameters", given.size());
    double a = given[0], b = given[1];
    double result;
    switch (op) {
      case Calculator::Operator::ADD: result = a + b; break;
      case Calculator::Operator::SUBTRACT: result = a - b; break;
      case Calculator::Operator::MULTIPLY: result = a * b; break;
      case Calculator::Operator::DIVIDE: result = a / b; break;
      default: KJ_FAIL_REQUIRE("unknown operator", (uint)op);
    }
    context.getResults().setValue(result);
    return kj::READY_NOW;
  }

 private:
  Calculator::Operator op;
};

class CalculatorServer final : public Calculator::Server {
 protected:
  kj::Promise<void> evaluate(EvaluateContext context) override {
    return evaluateExpression(context.getParams().getExpression(), nullptr)
        .then([context](double result) mutable {
          context.getResults().setValue(kj::heap<HeldValue>(result));
        });
  }

  kj::Promise<void> defFunction(DefFunctionContext context) override {
    auto params = context.getParams();
    KJ_REQUIRE(params.getParamCount() >= 0, "negative parameter count", params.getParamCount());
    context.getResults().setFunc(
        kj::heap<DefinedFunction>(params.getParamCount(), params.getBody()));
    return kj::READY_NOW;
  }

  kj::Promise<void> getOperator(GetOperatorContext context) override {
    auto op = context.getParams().getOp();
    KJ_REQUIRE((uint)op <= (uint)Calculator::Operator::DIVIDE, "unknown operator", (uint)op);
    context.getResults().setFunc(kj::heap<Arithmetic>(op));
    return kj::READY_NOW;
  }
};

}  // namespace

int main(int argc, const char* argv[]) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s HOST:PORT (PORT 0 picks a free one)\n", argv[0]);
    return 2;
  }
  std::string address = argv[1];
  auto colon = address.rfind(':');
  std::string host = colon == std::string::npos ? address : address.substr(0, colon);

  capnp::EzRpcServer server(kj::heap<CalculatorServer>(), argv[1]);
  auto& waitScope = server.getWaitScope();
  uint port = server.getPort().wait(waitScope);
  // The test reads this line to learn the port; flush, since stdout is a pipe.
  std::printf("listening on %s:%u\n", host.c_str(), port);
  std::fflush(stdout);
  kj::NEVER_DONE.wait(waitScope);
}
