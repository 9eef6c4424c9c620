//! The Calculator capability server: the RPC face of [`super::ops`].

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use capnp::message::HeapAllocator;
use capnp::Error;
use capnp_rpc::ImbuedMessageBuilder;
use futures::future::try_join_all;

use super::ops::{self, EvalError};
use crate::calculator_capnp::calculator::{self, expression, Operator};

/// An evaluation in progress. Owns everything it needs, so the message it was read from can go.
type Pending = Pin<Box<dyn Future<Output = Result<f64, Error>>>>;

/// A new Calculator capability. Each one is independent; the server gives every connection its
/// own.
pub fn new_client() -> calculator::Client {
    capnp_rpc::new_client(CalculatorImpl)
}

/// The bootstrap capability: evaluates expressions, defines functions, hands out operators.
struct CalculatorImpl;

impl calculator::Server for CalculatorImpl {
    async fn evaluate(
        self: Rc<Self>,
        params: calculator::EvaluateParams,
        mut results: calculator::EvaluateResults,
    ) -> Result<(), Error> {
        let expression = params.get()?.get_expression()?;
        let value = evaluate(expression, None)?.await?;
        results
            .get()
            .set_value(capnp_rpc::new_client(ValueImpl(value)));
        Ok(())
    }

    async fn def_function(
        self: Rc<Self>,
        params: calculator::DefFunctionParams,
        mut results: calculator::DefFunctionResults,
    ) -> Result<(), Error> {
        let params = params.get()?;
        let param_count = ops::param_count(params.get_param_count())?;
        let body = params.get_body()?;
        check_body(body, param_count)?;
        let function = FunctionImpl::new(param_count, body)?;
        results.get().set_func(capnp_rpc::new_client(function));
        Ok(())
    }

    async fn get_operator(
        self: Rc<Self>,
        params: calculator::GetOperatorParams,
        mut results: calculator::GetOperatorResults,
    ) -> Result<(), Error> {
        let op = ops::operator(params.get()?.get_op())?;
        results
            .get()
            .set_func(capnp_rpc::new_client(OperatorImpl(op)));
        Ok(())
    }
}

/// A computed number, held on the server until the client reads it or passes it back in.
struct ValueImpl(f64);

impl calculator::value::Server for ValueImpl {
    async fn read(
        self: Rc<Self>,
        _: calculator::value::ReadParams,
        mut results: calculator::value::ReadResults,
    ) -> Result<(), Error> {
        results.get().set_value(self.0);
        Ok(())
    }
}

/// One of the four arithmetic operators as a `Function`.
struct OperatorImpl(Operator);

impl calculator::function::Server for OperatorImpl {
    async fn call(
        self: Rc<Self>,
        params: calculator::function::CallParams,
        mut results: calculator::function::CallResults,
    ) -> Result<(), Error> {
        let args: Vec<f64> = params.get()?.get_params()?.iter().collect();
        results.get().set_value(ops::apply_to(self.0, &args)?);
        Ok(())
    }
}

/// A function defined with `defFunction`: a parameter count and a body expression.
struct FunctionImpl {
    param_count: u32,
    /// The body, copied out of the request. An imbued builder keeps the capabilities the body
    /// refers to (operators, earlier values, client callbacks) alive and callable.
    body: RefCell<ImbuedMessageBuilder<HeapAllocator>>,
}

impl FunctionImpl {
    fn new(param_count: u32, body: expression::Reader<'_>) -> Result<Self, Error> {
        let mut message = ImbuedMessageBuilder::new(HeapAllocator::new());
        message.set_root(body)?;
        Ok(Self {
            param_count,
            body: RefCell::new(message),
        })
    }
}

impl calculator::function::Server for FunctionImpl {
    async fn call(
        self: Rc<Self>,
        params: calculator::function::CallParams,
        mut results: calculator::function::CallResults,
    ) -> Result<(), Error> {
        let args: Vec<f64> = params.get()?.get_params()?.iter().collect();
        let got = u32::try_from(args.len()).unwrap_or(u32::MAX);
        ops::check_arity("function", self.param_count, got)?;
        // The borrow ends with this statement: `evaluate` returns a future that owns its data.
        let pending = {
            let mut body = self.body.borrow_mut();
            let root: expression::Builder<'_> = body.get_root()?;
            evaluate(root.into_reader(), Some(&args))?
        };
        results.get().set_value(pending.await?);
        Ok(())
    }
}

/// Starts evaluating `expression`; `params` are the arguments when it is a function body.
///
/// Everything that can be checked without waiting (structure, parameter indexes, null
/// capabilities) is checked here, before any call is made. Arguments of a `call` are evaluated
/// concurrently, and nothing waits on the network except `previousResult` reads and calls of
/// functions, so a whole expression of server-side operators costs no extra round trip.
fn evaluate(expression: expression::Reader<'_>, params: Option<&[f64]>) -> Result<Pending, Error> {
    match expression.which()? {
        expression::Literal(value) => Ok(ready(value)),
        expression::Parameter(index) => Ok(ready(ops::parameter(params, index)?)),
        expression::PreviousResult(value) => {
            let value = value.map_err(|e| context("previousResult", e))?;
            let read = value.read_request().send().promise;
            Ok(Box::pin(async move { Ok(read.await?.get()?.get_value()) }))
        }
        expression::Call(call) => {
            let function = call
                .get_function()
                .map_err(|e| context("call.function", e))?;
            let args = call
                .get_params()?
                .iter()
                .map(|arg| evaluate(arg, params))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Box::pin(async move {
                let args = try_join_all(args).await?;
                let mut request = function.call_request();
                let len = u32::try_from(args.len())
                    .map_err(|_| Error::failed("too many arguments".into()))?;
                let mut list = request.get().init_params(len);
                for (i, arg) in (0..len).zip(args) {
                    list.set(i, arg);
                }
                Ok(request.send().promise.await?.get()?.get_value())
            }))
        }
    }
}

/// Rejects a function body that refers to parameters the function will not have, at
/// `defFunction` time rather than at every call. The depth of the walk is bounded by the
/// message's nesting limit, which capnp enforces while reading.
fn check_body(expression: expression::Reader<'_>, param_count: u32) -> Result<(), Error> {
    match expression.which()? {
        expression::Parameter(index) if index >= param_count => {
            Err(EvalError::ParameterOutOfRange {
                index,
                count: param_count,
            }
            .into())
        }
        expression::Call(call) => call
            .get_params()?
            .iter()
            .try_for_each(|arg| check_body(arg, param_count)),
        _ => Ok(()),
    }
}

fn ready(value: f64) -> Pending {
    Box::pin(std::future::ready(Ok(value)))
}

/// Names the field a read error came from, so a peer sees e.g. "call.function: Message contains
/// null capability pointer" rather than a bare capnp message.
fn context(field: &str, e: Error) -> Error {
    Error::failed(format!("expression.{field}: {e}"))
}
