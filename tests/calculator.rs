//! The Calculator over real TCP sockets on 127.0.0.1: every feature, bad input and bad peers.

mod common;

use std::rc::Rc;
use std::time::Duration;

use capnp::traits::HasTypeId;
use common::{calculator_server, connect, eval, gated_call, run_local};
use tokio::io::AsyncWriteExt;
use windlass_addressbook::addressbook_capnp::person;
use windlass_calculator::{self as calculator, Calculator, Operator, Operators};

/// The failure message of `result`, which must be an error.
fn message<T: std::fmt::Debug>(result: Result<T, capnp::Error>) -> String {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

async fn read(
    value: calculator::Calculator,
    expression: impl FnOnce(
        &mut Operators,
        windlass_calculator::calculator_capnp::calculator::expression::Builder<'_>,
    ),
) -> Result<f64, capnp::Error> {
    let mut ops = Operators::new(&value);
    let mut request = value.evaluate_request();
    expression(&mut ops, request.get().init_expression());
    let v = request.send().pipeline.get_value();
    Ok(v.read_request().send().promise.await?.get()?.get_value())
}

#[test]
fn parsed_expressions_match_local_evaluation() {
    let server = calculator_server();
    run_local(async {
        let (_conn, calc) = connect(server.local_addr()).await;
        for text in [
            "1",
            "-2.5",
            "1 + 2 * 3",
            "(1 + 2) * 3",
            "10 / 4 - -3",
            "-(7 - 10) / 2",
            "1 / 0",
        ] {
            let expected = calculator::parse(text).expect("parses").eval();
            assert_eq!(
                eval(&calc, text).await.expect("evaluates"),
                expected,
                "{text}"
            );
        }
    });
}

#[test]
fn the_deepest_parsable_expression_is_accepted_by_the_server() {
    let server = calculator_server();
    run_local(async {
        let (_conn, calc) = connect(server.local_addr()).await;
        let depth = calculator::MAX_DEPTH - 1;
        let text = format!("{}1{}", "(1 + ".repeat(depth), ")".repeat(depth));
        assert_eq!(
            calculator::parse(&text).expect("parses").depth(),
            calculator::MAX_DEPTH
        );
        assert_eq!(
            eval(&calc, &text).await.expect("within the nesting limit"),
            (depth + 1) as f64
        );
    });
}

#[test]
fn bad_input_gets_clear_errors_and_the_server_keeps_serving() {
    let server = calculator_server();
    run_local(async {
        let (_conn, calc) = connect(server.local_addr()).await;

        // A parameter outside any function body.
        let err = message(read(calc.clone(), |_, mut e| e.set_parameter(0)).await);
        assert!(
            err.contains("parameter 0 used outside a function body"),
            "{err}"
        );

        // An operator called with three arguments.
        let err = message(
            read(calc.clone(), |ops, e| {
                let mut call = e.init_call();
                call.set_function(ops.get(Operator::Add));
                let mut args = call.init_params(3);
                for i in 0..3 {
                    args.reborrow().get(i).set_literal(1.0);
                }
            })
            .await,
        );
        assert!(
            err.contains("operator add takes 2 parameter(s) but was called with 3"),
            "{err}"
        );

        // A call without a function: a null capability.
        let err = message(
            read(calc.clone(), |_, e| {
                e.init_call().init_params(2);
            })
            .await,
        );
        assert!(err.contains("expression.call.function"), "{err}");
        assert!(err.to_lowercase().contains("null capability"), "{err}");

        // A function body referring to a parameter it does not have.
        let mut request = calc.def_function_request();
        request.get().set_param_count(1);
        request.get().init_body().set_parameter(3);
        let err = message(request.send().promise.await.map(|_| ()));
        assert!(
            err.contains("parameter 3 is out of range: the function has 1 parameter(s)"),
            "{err}"
        );

        // A negative parameter count.
        let mut request = calc.def_function_request();
        request.get().set_param_count(-2);
        request.get().init_body().set_literal(1.0);
        let err = message(request.send().promise.await.map(|_| ()));
        assert!(
            err.contains("paramCount must not be negative, got -2"),
            "{err}"
        );

        // A defined function called with the wrong number of arguments.
        let mut request = calc.def_function_request();
        request.get().set_param_count(2);
        request.get().init_body().set_parameter(1);
        let f = request.send().pipeline.get_func();
        let mut call = f.call_request();
        call.get().init_params(1).set(0, 5.0);
        let err = message(call.send().promise.await.map(|_| ()));
        assert!(
            err.contains("function takes 2 parameter(s) but was called with 1"),
            "{err}"
        );

        // An operator number the schema does not have (9), sent as raw bytes: the getOperator
        // params struct holds the operator as a UInt16 at data offset 0, where `Person.id` is.
        let mut raw = calc
            .client
            .new_call::<capnp::any_pointer::Owned, capnp::any_pointer::Owned>(
                calculator::Calculator::TYPE_ID,
                2,
                None,
            );
        raw.get().init_as::<person::Builder<'_>>().set_id(9);
        let err = message(raw.send().promise.await.map(|_| ()));
        assert!(err.contains("unknown operator 9"), "{err}");

        // The same connection still works.
        assert_eq!(eval(&calc, "6 * 7").await.expect("still serving"), 42.0);
    });
    // And a second client too.
    run_local(async {
        let (_conn, calc) = connect(server.local_addr()).await;
        assert_eq!(eval(&calc, "1 + 1").await.expect("second client"), 2.0);
    });
}

#[test]
fn a_client_dropping_mid_call_does_not_disturb_others() {
    let server = calculator_server();
    let addr = server.local_addr();
    run_local(async move {
        let (conn, calc) = connect(addr).await;
        // A callback that is never released: the server waits on it.
        let (pending, gate) = gated_call(&calc);
        let pending = tokio::task::spawn_local(async move { pending.await.map(|_| ()) });
        // The server is now waiting on our callback; vanish without a goodbye.
        tokio::time::timeout(Duration::from_secs(10), gate.called.notified())
            .await
            .expect("server called back");
        drop(calc);
        drop(conn);
        let outcome = tokio::time::timeout(Duration::from_secs(10), pending)
            .await
            .expect("a call in flight fails when its connection is dropped, it does not hang")
            .expect("task ran");
        let err = outcome.expect_err("a call on a dropped connection cannot succeed");
        assert_eq!(err.kind, capnp::ErrorKind::Disconnected, "{err}");

        let (_conn, calc) = connect(addr).await;
        assert_eq!(
            eval(&calc, "(4 + 5) * 3 - 1 / 2").await.expect("served"),
            26.5
        );
    });
    server.shutdown().expect("clean shutdown");
}

#[test]
fn garbage_from_a_peer_closes_only_that_connection() {
    let server = calculator_server();
    let addr = server.local_addr();
    run_local(async move {
        let (_good_conn, good) = connect(addr).await;
        assert_eq!(eval(&good, "2 + 2").await.expect("before"), 4.0);

        // A segment table claiming 2^31 segments, then noise; and a message whose one segment
        // claims 4 GiB. Neither may crash the server or reserve that memory.
        for bytes in [
            &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8][..],
            &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..],
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ] {
            let mut raw = tokio::net::TcpStream::connect(addr).await.expect("connect");
            raw.write_all(bytes).await.expect("write garbage");
            let mut sink = Vec::new();
            // The server must close the connection (read returns EOF or reset), not hang.
            let closed = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::io::AsyncReadExt::read_to_end(&mut raw, &mut sink),
            )
            .await;
            assert!(
                closed.is_ok(),
                "server did not close a connection sending {bytes:?}"
            );
        }

        assert_eq!(
            eval(&good, "3 + 3").await.expect("after, same connection"),
            6.0
        );
        let (_conn, fresh) = connect(addr).await;
        assert_eq!(
            eval(&fresh, "4 + 4").await.expect("after, new connection"),
            8.0
        );
    });
    server.shutdown().expect("clean shutdown");
}

#[test]
fn client_side_callbacks_see_server_computed_arguments() {
    let server = calculator_server();
    run_local(async {
        let (_conn, calc): (_, Calculator) = connect(server.local_addr()).await;
        let seen = Rc::new(std::cell::RefCell::new(Vec::new()));
        let record = seen.clone();
        let f = calculator::function("max", 3, move |args| {
            record.borrow_mut().push(args.to_vec());
            args.iter().copied().fold(f64::MIN, f64::max)
        });
        let value = read(calc.clone(), |ops, e| {
            let mut call = e.init_call();
            call.set_function(f.clone());
            let mut args = call.init_params(3);
            args.reborrow().get(0).set_literal(1.0);
            let mut sum = args.reborrow().get(1).init_call();
            sum.set_function(ops.get(Operator::Add));
            let mut sum_args = sum.init_params(2);
            sum_args.reborrow().get(0).set_literal(4.0);
            sum_args.get(1).set_literal(5.0);
            args.get(2).set_literal(-3.0);
        })
        .await
        .expect("callback evaluates");
        assert_eq!(value, 9.0);
        assert_eq!(*seen.borrow(), vec![vec![1.0, 9.0, -3.0]]);

        // The callback's own arity check is reported back through the server.
        let err = message(
            read(calc.clone(), |_, e| {
                let mut call = e.init_call();
                call.set_function(f.clone());
                call.init_params(1).get(0).set_literal(1.0);
            })
            .await,
        );
        assert!(
            err.contains("max takes 3 parameter(s) but was called with 1"),
            "{err}"
        );
    });
}

#[test]
fn connecting_to_a_closed_port_is_a_clear_error() {
    // A port nothing listens on, held for the test so no other server can be given it.
    let (_held, addr) = common::refusing_address();
    let port = addr.port();
    run_local(async move {
        let err = windlass::client::connect(&format!("127.0.0.1:{port}"))
            .await
            .expect_err("nothing listens there");
        let text = err.to_string();
        assert!(text.contains("cannot connect to 127.0.0.1"), "{text}");
        assert!(text.contains("is a server listening there?"), "{text}");
        let err = windlass::client::connect("no-such-host.invalid:1")
            .await
            .expect_err("does not resolve");
        assert!(err.to_string().contains("cannot resolve"), "{err}");
    });
}

#[test]
fn a_flat_sum_longer_than_one_message_can_nest_is_evaluated() {
    let server = calculator_server();
    run_local(async {
        let (_conn, calc) = connect(server.local_addr()).await;
        // 25 terms: 24 levels of `+`, one more than one message carries.
        let text = vec!["1"; calculator::MAX_DEPTH + 1].join(" + ");
        assert!(calculator::parse(&text).expect("parses").depth() > calculator::MAX_DEPTH);
        assert_eq!(eval(&calc, &text).await.expect("evaluates"), 25.0);
    });
}

#[test]
fn a_1000_term_chain_gives_exactly_the_local_result_and_a_longer_one_is_refused() {
    let server = calculator_server();
    run_local(async {
        let (_conn, calc) = connect(server.local_addr()).await;
        // Mixed, non-associative operators with inexact decimals: the server must perform the
        // same operations in the same order as left-to-right evaluation, bit for bit.
        for ops in [[" - ", " + "], [" / ", " * "]] {
            let mut text = String::from("1000.1");
            for i in 1..1000 {
                text.push_str(ops[i % 2]);
                text.push_str(&format!("{}.3", i % 7 + 1));
            }
            let expr = calculator::parse(&text).expect("a 1000-term chain parses");
            assert_eq!(expr.depth(), 1000);
            let remote = calculator::evaluate(&calc, &expr).await.expect("evaluates");
            let local = expr.eval();
            assert_eq!(
                remote.to_bits(),
                local.to_bits(),
                "{ops:?}: {remote} vs {local}"
            );
        }

        // Deep in both directions: parentheses nest to the right, the chain to the left.
        let text = format!(
            "{}{}{}",
            "(1 - ".repeat(100),
            vec!["2"; 300].join(" / "),
            ")".repeat(100)
        );
        let expr = calculator::parse(&text).expect("parses");
        let remote = calculator::evaluate(&calc, &expr).await.expect("evaluates");
        assert_eq!(remote.to_bits(), expr.eval().to_bits());

        let too_long = vec!["1"; calculator::MAX_TREE_DEPTH + 1].join(" + ");
        let e = calculator::parse(&too_long).expect_err("over the limit");
        assert!(e.message.contains("more than 1024 levels"), "{e}");
    });
}

/// A TCP server on its own thread that answers every connection with `reply`, once the client
/// has sent something, then closes.
fn foreign_server(reply: &'static [u8]) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 512];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(reply);
        }
    });
    addr
}

#[test]
fn a_server_that_answers_http_is_named_as_not_cap_n_proto() {
    let http = foreign_server(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let smtp = foreign_server(b"220 mail.example.com ESMTP ready\r\n");
    run_local(async {
        for (addr, like) in [(http, "like HTTP"), (smtp, "with an SMTP or FTP greeting")] {
            let conn = windlass::client::connect(&addr.to_string())
                .await
                .expect("the TCP connection itself succeeds");
            let calc: Calculator = conn.bootstrap();
            let e = message(eval(&calc, "1 + 1").await);
            let expected = format!("this is not a Cap'n Proto server (it answered {like})");
            assert!(e.contains(&expected), "{e}");
            assert!(!e.contains("segments"), "{e}");
        }
    });
}
