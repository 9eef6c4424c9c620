# The Calculator protocol of windlass.
#
# This is the protocol of the calculator sample that ships with the Cap'n Proto project (C++
# `samples/calculator.capnp`, pycapnp `examples/calculator.capnp`). Everything that reaches the
# wire — the file ID, every name, the nesting, every ordinal and every type — is kept identical to
# it, so the type IDs that capnp derives from them are identical too, and the reference clients and
# servers of other implementations talk to ours unchanged. `tests/schema_ids.rs` pins those IDs.
# Only these comments are our own: change a name or an ordinal here and interop breaks.

@0x85150b117366d14b;

interface Calculator {
  # A capability that evaluates arithmetic expressions. Everything it hands out (values,
  # functions) is itself a capability, so a client can chain work without waiting for answers:
  # promise pipelining makes a whole expression cost one network round trip.

  evaluate @0 (expression :Expression) -> (value :Value);
  # Evaluates `expression` and returns a capability to the result instead of the number itself,
  # so the result can be fed straight into a later `evaluate` as a `previousResult`.

  struct Expression {
    # An expression tree: a number, an earlier result, a parameter of the enclosing function, or
    # a call of a function on the values of sub-expressions.

    union {
      literal @0 :Float64;
      # A number given in the request.

      previousResult @1 :Value;
      # The value behind a `Value` capability returned by an earlier `evaluate`. It may still be a
      # promise when the request is sent.

      parameter @2 :UInt32;
      # The parameter at this index; only meaningful in the body of a `defFunction`.

      call :group {
        # `function` applied to the values of `params`, evaluated in order.
        function @3 :Function;
        params @4 :List(Expression);
      }
    }
  }

  interface Value {
    # The result of an evaluation, held by the server.

    read @0 () -> (value :Float64);
    # Fetches the number.
  }

  defFunction @1 (paramCount :Int32, body :Expression) -> (func :Function);
  # Defines a function taking `paramCount` arguments whose result is `body`, where `parameter`
  # expressions refer to the arguments. The function lives on the server.

  interface Function {
    # A function of several numbers. Functions may live on the server (operators and
    # `defFunction` results) or in the client, in which case the server calls back into it.

    call @0 (params :List(Float64)) -> (value :Float64);
    # Applies the function to `params`.
  }

  getOperator @2 (op :Operator) -> (func :Function);
  # A `Function` for one of the four arithmetic operators; it takes exactly two parameters.

  enum Operator {
    add @0;
    subtract @1;
    multiply @2;
    divide @3;
  }
}
