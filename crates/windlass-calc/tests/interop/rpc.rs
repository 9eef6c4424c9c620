//! RPC both ways: pycapnp's client against `windlass-calc serve`, and windlass's client (the CLI
//! and the library) against a pycapnp server, over plain TCP, TLS and mutual TLS.

#[cfg(feature = "tls")]
use crate::harness::cert;
use crate::harness::{
    python, python_script, python_server, run, windlass_calc, windlass_server, Process,
};

/// How many checks `calc_client.py` runs: the scenario, and with `--windlass-errors` the errors.
const SCENARIO_CHECKS: usize = 8;
const ERROR_CHECKS: usize = 9;

/// Runs `calc_client.py ADDR ARGS` and checks that every one of its checks passed.
fn python_client_passes(python: &std::path::Path, addr: &str, args: &[&str], checks: usize) {
    let out = run(
        "calc_client.py (pycapnp)",
        python_script(python, "calc_client.py").arg(addr).args(args),
    );
    let stdout = out.success();
    assert!(
        stdout.contains(&format!("{checks}/{checks} checks passed")),
        "{out}"
    );
    let passed = stdout.lines().filter(|l| l.starts_with("PASS ")).count();
    assert_eq!(passed, checks, "{out}");
}

// ---- their client, our server ----------------------------------------------------------------

#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn pycapnp_client_runs_the_reference_scenario_and_gets_our_errors_intact() {
    let python = python("pycapnp client -> windlass serve (TCP)");
    let (_server, addr) = windlass_server(&[]);
    python_client_passes(
        &python,
        &addr,
        &["--windlass-errors"],
        SCENARIO_CHECKS + ERROR_CHECKS,
    );
}

#[cfg(feature = "tls")] // the CLI's TLS flags exist only with it
#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn pycapnp_client_over_tls_trusting_our_dev_ca() {
    let python = python("pycapnp client -> windlass serve (TLS)");
    let (key, crt) = (cert("server.key"), cert("server.crt"));
    let (_server, addr) = windlass_server(&["--tls-cert", &crt, "--tls-key", &key]);
    let ca = cert("ca.crt");
    // Connect to 127.0.0.1 but verify the name `localhost`: Python's ssl checks it for real.
    let args = [
        "--ca",
        &ca,
        "--server-name",
        "localhost",
        "--windlass-errors",
    ];
    python_client_passes(&python, &addr, &args, SCENARIO_CHECKS + ERROR_CHECKS);
}

#[cfg(feature = "tls")] // the CLI's TLS flags exist only with it
#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn pycapnp_client_over_mutual_tls_with_a_client_certificate() {
    let python = python("pycapnp client -> windlass serve (mutual TLS)");
    let (key, crt, ca) = (cert("server.key"), cert("server.crt"), cert("ca.crt"));
    let serve = ["--tls-cert", &crt, "--tls-key", &key, "--client-ca", &ca];
    let (_server, addr) = windlass_server(&serve);
    let (client_crt, client_key) = (cert("client.crt"), cert("client.key"));
    let args = [
        "--ca",
        &ca,
        "--client-cert",
        &client_crt,
        "--client-key",
        &client_key,
    ];
    python_client_passes(&python, &addr, &args, SCENARIO_CHECKS);
}

/// A pycapnp client that dies while our server is calling back into it (a socket closed
/// mid-call, no Abort message) costs the server nothing: the next client gets full service.
#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn a_pycapnp_client_dying_mid_callback_does_not_hurt_the_server() {
    let python = python("pycapnp client dies mid-callback -> windlass serve");
    let (_server, addr) = windlass_server(&[]);
    for _ in 0..3 {
        let out = run(
            "calc_client.py --die-in-callback",
            python_script(&python, "calc_client.py").args([addr.as_str(), "--die-in-callback"]),
        );
        assert_eq!(out.status.code(), Some(3), "{out}");
        assert!(out.stdout.contains("callback entered"), "{out}");
    }
    python_client_passes(
        &python,
        &addr,
        &["--windlass-errors"],
        SCENARIO_CHECKS + ERROR_CHECKS,
    );
}

/// Runs `calc_client.py --oversized-call 50000` (about 400 kB in one message) against `addr`.
fn oversized_call(python: &std::path::Path, addr: &str) -> String {
    let out = run(
        "calc_client.py --oversized-call",
        python_script(python, "calc_client.py").args([addr, "--oversized-call", "50000"]),
    );
    let stdout = out.success();
    assert!(stdout.contains("PASS oversized call refused"), "{out}");
    stdout.to_owned()
}

/// A message over `--max-message-bytes` is refused and ends that connection only: the server
/// serves the next client in full.
#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn a_pycapnp_message_over_the_size_limit_is_refused_and_the_server_carries_on() {
    let python = python("pycapnp oversized message -> windlass serve");
    let (_server, addr) = windlass_server(&["--max-message-bytes", "100000"]);
    oversized_call(&python, &addr);
    python_client_passes(&python, &addr, &[], SCENARIO_CHECKS);
}

/// The refusal also says why, every time: the server sends an RPC `Abort` saying the message is
/// too large and naming our limit, then drains the peer's unread input (bounded) before closing,
/// so the kernel does not answer with a reset that destroys the `Abort` (pycapnp would then
/// report `[Errno 32] Broken pipe` instead).
#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn a_pycapnp_message_over_the_size_limit_is_always_explained() {
    let python = python("pycapnp oversized message explained -> windlass serve");
    let (_server, addr) = windlass_server(&["--max-message-bytes", "100000"]);
    for attempt in 0..20 {
        let stdout = oversized_call(&python, &addr);
        assert!(
            stdout.contains("too large") && stdout.contains("100000"),
            "attempt {attempt}: the refusal did not explain itself: {stdout}"
        );
    }
}

/// Several pycapnp clients at once against a server with two worker threads: connections handed
/// to different workers, each with its own callbacks into its own Python process.
#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn pycapnp_clients_in_parallel_against_a_multi_worker_server() {
    let python = python("pycapnp clients in parallel -> windlass serve --workers 2");
    let (_server, addr) = windlass_server(&["--workers", "2"]);
    let clients: Vec<Process> = (0..4)
        .map(|i| {
            let mut command = python_script(&python, "calc_client.py");
            command.args([addr.as_str(), "--windlass-errors"]);
            Process::spawn(&format!("calc_client.py #{i}"), &mut command)
        })
        .collect();
    for client in clients {
        let out = client.finish();
        let all = SCENARIO_CHECKS + ERROR_CHECKS;
        assert!(
            out.success()
                .contains(&format!("{all}/{all} checks passed")),
            "{out}"
        );
    }
}

/// A control: the two Python scripts agree with each other, so a failure of either against
/// windlass is about windlass (or pycapnp), not about the scripts.
#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn pycapnp_client_and_pycapnp_server_agree() {
    let python = python("pycapnp client -> pycapnp server (control)");
    let (_server, addr) = python_server(&python, &[]);
    python_client_passes(&python, &addr, &[], SCENARIO_CHECKS);
}

// ---- our client, their server ----------------------------------------------------------------

/// Expressions for `windlass-calc eval` and what it must print.
const EXPRESSIONS: [(&str, &str); 5] = [
    ("(4 + 5) * 3 - 1 / 2", "26.5"),
    ("-2 * -3", "6"),
    ("1 / 0", "inf"),
    ("((((1 + 2) * 3) - 4) / 5) * 10", "10"),
    (
        "1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15 + 16",
        "136",
    ),
];

/// `windlass-calc eval` of every expression in [`EXPRESSIONS`] and `demo --connect` against
/// `addr`, each with `client_args`.
fn windlass_cli_passes(addr: &str, client_args: &[&str]) {
    for (expression, expected) in EXPRESSIONS {
        let out = run(
            "windlass-calc eval",
            windlass_calc(&["eval", "--connect", addr])
                .args(client_args)
                .arg(expression),
        );
        assert_eq!(out.success().trim(), expected, "eval {expression:?}: {out}");
    }
    let out = run(
        "windlass-calc demo --connect",
        windlass_calc(&["demo", "--connect", addr]).args(client_args),
    );
    let stdout = out.success();
    assert!(stdout.contains("6/6 checks passed"), "{out}");
    assert!(!stdout.contains("FAIL"), "{out}");
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn windlass_eval_and_demo_against_a_pycapnp_server() {
    let python = python("windlass-calc -> pycapnp server (TCP)");
    let (_server, addr) = python_server(&python, &[]);
    windlass_cli_passes(&addr, &[]);
}

#[cfg(feature = "tls")] // the CLI's TLS flags exist only with it
#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn windlass_eval_and_demo_against_a_pycapnp_server_over_tls() {
    let python = python("windlass-calc -> pycapnp server (TLS)");
    let (key, crt, ca) = (cert("server.key"), cert("server.crt"), cert("ca.crt"));
    let (_server, addr) = python_server(&python, &["--tls-cert", &crt, "--tls-key", &key]);
    // The certificate names 127.0.0.1, so the default server name (the host) verifies...
    windlass_cli_passes(&addr, &["--ca", &ca]);
    // ...and so does `localhost`, given explicitly.
    let out = run(
        "windlass-calc eval --server-name localhost",
        windlass_calc(&["eval", "-c", &addr, "--ca", &ca]).args([
            "--server-name",
            "localhost",
            "6 * 7",
        ]),
    );
    assert_eq!(out.success().trim(), "42", "{out}");
}

#[cfg(feature = "tls")] // the CLI's TLS flags exist only with it
#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn windlass_eval_against_a_pycapnp_server_requiring_client_certificates() {
    let python = python("windlass-calc -> pycapnp server (mutual TLS)");
    let (key, crt, ca) = (cert("server.key"), cert("server.crt"), cert("ca.crt"));
    let serve = ["--tls-cert", &crt, "--tls-key", &key, "--client-ca", &ca];
    let (_server, addr) = python_server(&python, &serve);
    let (client_crt, client_key) = (cert("client.crt"), cert("client.key"));
    let mtls = [
        "--ca",
        &ca,
        "--client-cert",
        &client_crt,
        "--client-key",
        &client_key,
    ];
    windlass_cli_passes(&addr, &mtls);

    // Without a certificate Python's ssl refuses us; we must fail, not hang or print a value.
    let out = run(
        "windlass-calc eval without a client certificate",
        &mut windlass_calc(&["eval", "-c", &addr, "--ca", &ca, "6 * 7"]),
    );
    out.failure();
    assert!(out.stdout.trim().is_empty(), "{out}");
}

/// The library client: a pycapnp error reaches the caller as a `capnp::Error` of kind `Failed`
/// with the Python text intact; a call with 10,000 arguments (several segments) is answered; the
/// demo scenario (with its Rust-side callback `Function`) and
/// a burst of concurrent pipelined calls pass on the same connection afterwards.
#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn windlass_library_client_against_a_pycapnp_server() {
    let python = python("windlass library client -> pycapnp server");
    let (_server, addr) = python_server(&python, &[]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let work = async {
        let conn = windlass::client::connect(&addr)
            .await
            .expect("connect to the pycapnp server");
        let calc: windlass_calculator::Calculator = conn.bootstrap();

        let mut request = calc.evaluate_request();
        request.get().init_expression().set_parameter(0);
        let value = request.send().pipeline.get_value();
        let error = match value.read_request().send().promise.await {
            Ok(_) => panic!("a parameter outside a function must fail"),
            Err(e) => e,
        };
        assert_eq!(error.kind, capnp::ErrorKind::Failed, "{error}");
        assert!(
            error
                .to_string()
                .contains("ValueError: pycapnp server: parameter 0 outside a function body"),
            "the Python error text did not arrive intact: {error}"
        );

        // f(x0 .. x9999) = x9999 - x0, called with 0 .. 9999: an ~80 kB call in several segments.
        let count = 10_000u32;
        let mut operator = calc.get_operator_request();
        operator
            .get()
            .set_op(windlass_calculator::Operator::Subtract);
        let subtract = operator.send().pipeline.get_func();
        let mut define = calc.def_function_request();
        define
            .get()
            .set_param_count(i32::try_from(count).expect("fits"));
        {
            let mut call = define.get().init_body().init_call();
            call.set_function(subtract);
            let mut params = call.init_params(2);
            params.reborrow().get(0).set_parameter(count - 1);
            params.get(1).set_parameter(0);
        }
        let f = define.send().pipeline.get_func();
        let mut call = f.call_request();
        {
            let mut args = call.get().init_params(count);
            for i in 0..count {
                args.set(i, f64::from(i));
            }
        }
        let response = call.send().promise.await.expect("the wide call");
        let value = response.get().expect("results").get_value();
        assert_eq!(value, f64::from(count - 1));

        for check in windlass_calc::demo::run(&calc).await {
            assert!(check.passed(), "{check}");
        }

        let burst = (0..100u32).map(|i| {
            let expr = windlass_calculator::parse(&format!("{i} * 3 + 1")).expect("parses");
            let calc = calc.clone();
            async move { windlass_calculator::evaluate(&calc, &expr).await }
        });
        let values = futures::future::join_all(burst).await;
        for (i, value) in (0..100u32).zip(values) {
            assert_eq!(value.expect("burst call"), f64::from(i) * 3.0 + 1.0);
        }
        drop(calc);
        conn.close().await.expect("close");
    };
    let limit = crate::harness::TIMEOUT;
    tokio::task::LocalSet::new()
        .block_on(&runtime, async { tokio::time::timeout(limit, work).await })
        .expect("the library client finished in time");
}

/// Pinning: a pycapnp server with a self-signed certificate made now (no CA at all) is accepted
/// by its SHA-256 fingerprint, and refused under any other pin, with both fingerprints named.
#[cfg(feature = "tls")]
#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn windlass_eval_pins_a_pycapnp_server_with_a_self_signed_certificate() {
    let python = python("windlass-calc --pin-sha256 -> pycapnp server (self-signed)");
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate");
    let dir = crate::serialization::scratch("pin-self-signed");
    let (crt, key) = (dir.join("self.crt"), dir.join("self.key"));
    std::fs::write(&crt, generated.cert.pem()).expect("write the certificate");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write the key");
    let (crt, key) = (crt.display().to_string(), key.display().to_string());
    let (_server, addr) = python_server(&python, &["--tls-cert", &crt, "--tls-key", &key]);

    let pin = windlass::tls::Fingerprint::of(generated.cert.der()).to_string();
    let out = run(
        "windlass-calc eval --pin-sha256",
        &mut windlass_calc(&["eval", "-c", &addr, "--pin-sha256", &pin, "6 * 7"]),
    );
    assert_eq!(out.success().trim(), "42", "{out}");

    let wrong = windlass::tls::Fingerprint::of(b"some other certificate").to_string();
    let out = run(
        "windlass-calc eval --pin-sha256 (wrong pin)",
        &mut windlass_calc(&["eval", "-c", &addr, "--pin-sha256", &wrong, "6 * 7"]),
    );
    let stderr = out.failure();
    assert!(
        stderr.contains(&pin) && stderr.contains(&wrong),
        "a pin mismatch should name both fingerprints: {out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client without a certificate, refused by a pycapnp (asyncio + OpenSSL) server that requires
/// one, is told to add one, as it is by windlass's own server — although asyncio closes the
/// socket without a TLS alert, so the client sees only an end of file before the first answer.
#[cfg(feature = "tls")]
#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn windlass_eval_without_a_client_certificate_is_told_to_add_one() {
    let python = python("windlass-calc without client cert -> pycapnp server (mTLS)");
    let (key, crt, ca) = (cert("server.key"), cert("server.crt"), cert("ca.crt"));
    let serve = ["--tls-cert", &crt, "--tls-key", &key, "--client-ca", &ca];
    let (_server, addr) = python_server(&python, &serve);
    let out = run(
        "windlass-calc eval without a client certificate",
        &mut windlass_calc(&["eval", "-c", &addr, "--ca", &ca, "6 * 7"]),
    );
    assert!(out.failure().contains("client certificate"), "{out}");
}
