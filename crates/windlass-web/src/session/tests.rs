//! The session without sockets: message texts in, message texts out, on a `LocalSet`.

use std::rc::Rc;

use futures::StreamExt;

use super::{Session, SessionConfig};
use crate::schema::Schema;

fn schema() -> Rc<Schema> {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../windlass-calculator/schemas");
    let bytes = windlass_schema::SchemaCompiler::new()
        .file(dir.join("calculator.capnp"))
        .src_prefix(&dir)
        .compile_to_bytes()
        .expect("calculator.capnp compiles");
    Rc::new(Schema::from_request_bytes(&bytes).expect("schema"))
}

fn session(
    max_table_entries: usize,
) -> (Session, futures::channel::mpsc::UnboundedReceiver<String>) {
    let schema = schema();
    let id = schema
        .interface_by_name("Calculator")
        .expect("Calculator")
        .id();
    let config = SessionConfig {
        max_message_bytes: 1 << 16,
        max_table_entries,
        callbacks: true,
    };
    Session::new(schema, windlass_calculator::new_client().client, id, config)
}

/// Runs `body` on a current-thread runtime and `LocalSet`, as the worker does.
fn local(body: impl std::future::Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio::task::LocalSet::new().block_on(&runtime, body);
}

#[test]
fn pipelined_read_resolves_and_release_frees_the_entry() {
    local(async {
        let (session, mut out) = session(100);
        session
            .receive(r#"["push",["pipeline",0,["evaluate"],[{"literal":5}]]]"#)
            .expect("push");
        session
            .receive(r#"["push",["pipeline",1,["value","read"],[]]]"#)
            .expect("push");
        session.receive(r#"["pull",2]"#).expect("pull");
        assert_eq!(
            out.next().await.as_deref(),
            Some(r#"["resolve",2,{"value":5}]"#)
        );
        session.receive(r#"["release",2,1]"#).expect("release");
        session.receive(r#"["release",1,1]"#).expect("release");
        assert_eq!(
            session.state.borrow().exports.len(),
            1,
            "only the bootstrap is left"
        );
    });
}

#[test]
fn protocol_violations_abort() {
    for bad in [
        r#"["pull",7]"#,
        r#"["release",1,1]"#,
        r#"["push",["pipeline",9,["x"],[]]]"#,
        "nonsense",
    ] {
        local(async {
            let (session, mut out) = session(100);
            assert!(session.receive(bad).is_err(), "{bad}");
            let abort = out.next().await.expect("an abort");
            assert!(abort.starts_with(r#"["abort",["error","Error""#), "{abort}");
            assert_eq!(out.next().await, None, "nothing after the abort");
        });
    }
}

#[test]
fn over_released_export_aborts() {
    local(async {
        let (session, mut out) = session(100);
        session
            .receive(r#"["push",["pipeline",0,["evaluate"],[{"literal":1}]]]"#)
            .expect("push");
        assert!(session.receive(r#"["release",1,2]"#).is_err());
        assert!(out
            .next()
            .await
            .expect("abort")
            .contains("release of export 1 by 2"));
    });
}

#[test]
fn table_limit_aborts_a_peer_that_never_releases() {
    local(async {
        let (session, mut out) = session(4);
        let push = r#"["push",["pipeline",0,["evaluate"],[{"literal":1}]]]"#;
        let results: Vec<_> = (0..5).map(|_| session.receive(push).is_ok()).collect();
        assert_eq!(results, [true, true, true, false, false]);
        assert!(out
            .next()
            .await
            .expect("abort")
            .contains("too many live entries"));
    });
}

#[test]
fn bad_arguments_reject_that_call_only() {
    local(async {
        let (session, mut out) = session(100);
        session
            .receive(r#"["push",["pipeline",0,["evaluate"],[{"literal":"three"}]]]"#)
            .expect("push");
        session.receive(r#"["pull",1]"#).expect("pull");
        let reject = out.next().await.expect("reject");
        assert!(
            reject.starts_with(r#"["reject",1,["error","Error","evaluate: "#),
            "{reject}"
        );
        session
            .receive(r#"["push",["pipeline",0,["evaluate"],[{"literal":2}]]]"#)
            .expect("push");
        session
            .receive(r#"["push",["pipeline",2,["value","read"],[]]]"#)
            .expect("push");
        session.receive(r#"["pull",3]"#).expect("pull");
        assert_eq!(
            out.next().await.as_deref(),
            Some(r#"["resolve",3,{"value":2}]"#)
        );
    });
}

#[test]
fn client_function_is_called_back_and_released() {
    local(async {
        let (session, mut out) = session(100);
        // evaluate({call: {function: <client export -1>, params: [{literal: 2}, {literal: 3}]}})
        let push = r#"["push",["pipeline",0,["evaluate"],[{"call":{"function":["export",-1],"params":[[{"literal":2},{"literal":3}]]}}]]]"#;
        session.receive(push).expect("push");
        session
            .receive(r#"["push",["pipeline",1,["value","read"],[]]]"#)
            .expect("push");
        session.receive(r#"["pull",2]"#).expect("pull");
        assert_eq!(
            out.next().await.as_deref(),
            Some(r#"["push",["pipeline",-1,[],[[[2,3]]]]]"#)
        );
        assert_eq!(out.next().await.as_deref(), Some(r#"["pull",1]"#));
        session.receive(r#"["resolve",1,6]"#).expect("resolve");
        let mut rest = Vec::new();
        for _ in 0..3 {
            rest.push(out.next().await.expect("message"));
        }
        rest.sort();
        assert_eq!(
            rest,
            [
                r#"["release",-1,1]"#,
                r#"["release",1,1]"#,
                r#"["resolve",2,{"value":6}]"#
            ]
        );
    });
}

#[test]
fn remap_calls_a_capture_for_each_element_of_an_array() {
    local(async {
        let (session, mut out) = session(100);
        // Export 1 is plain data, [1, 2, 3]; `.map(n => calc.evaluate({literal: n}).value.read())`
        // capturing the Calculator (the client's import 0).
        session.receive(r#"["push",[[1,2,3]]]"#).expect("push");
        let remap = r#"["push",["remap",1,[],[["import",0]],[
            ["pipeline",-1,["evaluate"],[{"literal":["pipeline",0]}]],
            ["pipeline",1,["value","read"],[]],
            ["pipeline",2,["value"]]]]]"#;
        session
            .receive(&remap.replace(['\n', ' '], ""))
            .expect("remap");
        session.receive(r#"["pull",2]"#).expect("pull");
        assert_eq!(
            out.next().await.as_deref(),
            Some(r#"["resolve",2,[[1,2,3]]]"#)
        );
        session.receive(r#"["release",2,1]"#).expect("release");
        session.receive(r#"["release",1,1]"#).expect("release");
        let state = session.state.borrow();
        assert_eq!(state.exports.len(), 1, "only the bootstrap is left");
        assert!(state.caps.is_empty(), "the remap dropped its handles");
    });
}

#[test]
fn remap_over_capabilities_and_over_one_value() {
    local(async {
        let (session, mut out) = session(100);
        for n in [5, 7] {
            let push = format!(r#"["push",["pipeline",0,["evaluate"],[{{"literal":{n}}}]]]"#);
            session.receive(&push).expect("push");
        }
        // Export 3: an array of the two results' `value` capabilities; map `v => v.read()`.
        session
            .receive(r#"["push",[[["pipeline",1,["value"]],["pipeline",2,["value"]]]]]"#)
            .expect("push");
        session
            .receive(r#"["push",["remap",3,[],[],[["pipeline",0,["read"],[]]]]]"#)
            .expect("remap");
        session.receive(r#"["pull",4]"#).expect("pull");
        assert_eq!(
            out.next().await.as_deref(),
            Some(r#"["resolve",4,[[{"value":5},{"value":7}]]]"#)
        );
        // Over a result that is not an array the mapper runs once: `r => r.value.read()`.
        session
            .receive(r#"["push",["remap",1,[],[],[["pipeline",0,["value","read"],[]]]]]"#)
            .expect("remap");
        session.receive(r#"["pull",5]"#).expect("pull");
        assert_eq!(
            out.next().await.as_deref(),
            Some(r#"["resolve",5,{"value":5}]"#)
        );
        // A mapper error rejects that map only; an unknown export is a protocol violation.
        session
            .receive(r#"["push",["remap",3,[],[],[["pipeline",0,["nope"],[]]]]]"#)
            .expect("remap");
        session.receive(r#"["pull",6]"#).expect("pull");
        let reject = out.next().await.expect("reject");
        assert!(
            reject.starts_with(r#"["reject",6,"#) && reject.contains("nope"),
            "{reject}"
        );
        assert!(session
            .receive(r#"["push",["remap",99,[],[],[]]]"#)
            .is_err());
    });
}

#[test]
fn finished_pulls_leave_no_task_behind() {
    // A long session must not keep (and scan) a handle per pull it ever made.
    local(async {
        let (session, mut out) = session(10_000);
        for i in 0..200 {
            let base = i * 2;
            session
                .receive(r#"["push",["pipeline",0,["evaluate"],[{"literal":1}]]]"#)
                .expect("push");
            session
                .receive(&format!(
                    r#"["push",["pipeline",{},["value","read"],[]]]"#,
                    base + 1
                ))
                .expect("push");
            session
                .receive(&format!(r#"["pull",{}]"#, base + 2))
                .expect("pull");
            let reply = out.next().await.expect("a reply");
            assert!(reply.starts_with(r#"["resolve""#), "{reply}");
            for id in [base + 1, base + 2] {
                session
                    .receive(&format!(r#"["release",{id},1]"#))
                    .expect("release");
            }
        }
        tokio::task::yield_now().await;
        assert_eq!(session.state.borrow().tasks.len(), 0);
        assert_eq!(session.state.borrow().pulls_outstanding, 0);
    });
}
