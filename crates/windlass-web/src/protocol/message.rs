//! Cap'n Web top-level messages and the HTTP batch framing.
//!
//! Shapes as capnweb 0.12 sends and reads them (`RpcSessionImpl.readLoop` and the `send*`
//! methods in its `src/rpc.ts`; `docs/reference/protocol.md`). We require the exact arity
//! capnweb sends, where capnweb itself ignores extra elements.

use serde_json::Value as Json;

use super::expr::{clip, id};
use super::{Expr, Limits, ProtocolError};

/// One Cap'n Web message. Ids are as the sender numbers them (see [`Expr`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// `["push", expr]`: evaluate `expr`; its result becomes the sender's next positive import.
    Push(Expr),
    /// `["stream", expr]`: like push, but already pulled, never pipelined, and released by the
    /// resolve or reject that answers it. capnweb sends it for `WritableStream` writes.
    Stream(Expr),
    /// `["pipe"]`: create a pipe, which takes the sender's next positive import id like a push.
    /// Only a sender of `ReadableStream`s or `Blob`s sends it; we parse it to keep ids in step.
    Pipe,
    /// `["pull", id]`: send a resolve or reject for the sender's import `id`.
    Pull(i64),
    /// `["resolve", id, expr]`: the sender's export `id` resolved to `expr`.
    Resolve(i64, Expr),
    /// `["reject", id, expr]`: the sender's export `id` rejected with `expr`, usually an error.
    Reject(i64, Expr),
    /// `["release", id, refcount]`: the sender drops `refcount` references to its import `id`.
    Release(i64, u32),
    /// `["abort", expr]`: the sender ends the session because of the error `expr`.
    Abort(Expr),
}

impl Message {
    /// Reads one message from its JSON text (a WebSocket text frame, a batch line).
    ///
    /// # Errors
    /// [`ProtocolError::MessageTooLarge`] and [`ProtocolError::TooDeep`] are found on the raw
    /// text, before serde_json parses it; then anything that is not a capnweb 0.12 message.
    pub fn parse(text: &str, limits: &Limits) -> Result<Message, ProtocolError> {
        limits.check_text(text)?;
        let json: Json = serde_json::from_str(text).map_err(ProtocolError::Json)?;
        Message::from_json(&json, limits)
    }

    /// Reads one message from parsed JSON.
    ///
    /// # Errors
    /// As [`parse`](Self::parse), less the size check.
    pub fn from_json(json: &Json, limits: &Limits) -> Result<Message, ProtocolError> {
        let items = json.as_array().ok_or(ProtocolError::NotAnArray)?;
        let Some(Json::String(tag)) = items.first() else {
            return Err(ProtocolError::MissingType);
        };
        // The message's own array is the first level of nesting.
        let expr = |value| Expr::parse_nested(value, limits, 1);
        match tag.as_str() {
            "push" => arity("push", items, 2).and_then(|()| Ok(Message::Push(expr(&items[1])?))),
            "stream" => {
                arity("stream", items, 2).and_then(|()| Ok(Message::Stream(expr(&items[1])?)))
            }
            "pipe" => arity("pipe", items, 1).map(|()| Message::Pipe),
            "pull" => arity("pull", items, 2)
                .and_then(|()| id(&items[1], "pull"))
                .map(Message::Pull),
            "resolve" => {
                arity("resolve", items, 3)?;
                Ok(Message::Resolve(
                    id(&items[1], "resolve")?,
                    expr(&items[2])?,
                ))
            }
            "reject" => {
                arity("reject", items, 3)?;
                Ok(Message::Reject(id(&items[1], "reject")?, expr(&items[2])?))
            }
            "release" => {
                arity("release", items, 3)?;
                let refcount = items[2]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|&n| n > 0)
                    .ok_or(ProtocolError::BadRefcount)?;
                Ok(Message::Release(id(&items[1], "release")?, refcount))
            }
            "abort" => arity("abort", items, 2).and_then(|()| Ok(Message::Abort(expr(&items[1])?))),
            other => Err(ProtocolError::UnknownMessage(clip(other))),
        }
    }

    /// The message as one line of JSON text, object fields in the order the expressions hold
    /// them.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let with_expr = |out: &mut String, head: &str, expr: &Expr| {
            out.push_str(head);
            expr.write_text(out);
            out.push(']');
        };
        match self {
            Message::Push(e) => with_expr(&mut out, "[\"push\",", e),
            Message::Stream(e) => with_expr(&mut out, "[\"stream\",", e),
            Message::Pipe => out.push_str("[\"pipe\"]"),
            Message::Pull(id) => out = format!("[\"pull\",{id}]"),
            Message::Resolve(id, e) => with_expr(&mut out, &format!("[\"resolve\",{id},"), e),
            Message::Reject(id, e) => with_expr(&mut out, &format!("[\"reject\",{id},"), e),
            Message::Release(id, n) => out = format!("[\"release\",{id},{n}]"),
            Message::Abort(e) => with_expr(&mut out, "[\"abort\",", e),
        }
        out
    }

    /// The message as a JSON tree (object fields in key order).
    pub fn to_json(&self) -> Json {
        let tagged = |tag: &str, rest: Vec<Json>| {
            let mut items = vec![Json::from(tag)];
            items.extend(rest);
            Json::Array(items)
        };
        match self {
            Message::Push(e) => tagged("push", vec![e.to_json()]),
            Message::Stream(e) => tagged("stream", vec![e.to_json()]),
            Message::Pipe => tagged("pipe", vec![]),
            Message::Pull(id) => tagged("pull", vec![(*id).into()]),
            Message::Resolve(id, e) => tagged("resolve", vec![(*id).into(), e.to_json()]),
            Message::Reject(id, e) => tagged("reject", vec![(*id).into(), e.to_json()]),
            Message::Release(id, n) => tagged("release", vec![(*id).into(), (*n).into()]),
            Message::Abort(e) => tagged("abort", vec![e.to_json()]),
        }
    }
}

fn arity(tag: &'static str, items: &[Json], expected: usize) -> Result<(), ProtocolError> {
    if items.len() == expected {
        return Ok(());
    }
    Err(ProtocolError::WrongArity {
        tag,
        got: items.len(),
        expected: match expected {
            1 => "1",
            2 => "2",
            _ => "3",
        },
    })
}

/// Reads an HTTP batch body: messages separated by `\n`, an empty body being none (capnweb's
/// `newHttpBatchRpcResponse` splits on `"\n"`). A final newline is tolerated, and a `\r` before
/// a newline is JSON whitespace, so hand-written bodies work too.
///
/// # Errors
/// [`ProtocolError::BatchTooLong`] past [`Limits::max_batch_messages`], counted before the
/// extra line is parsed; [`ProtocolError::BatchLine`] wrapping the first bad message.
pub fn parse_batch(body: &str, limits: &Limits) -> Result<Vec<Message>, ProtocolError> {
    let body = body.strip_suffix('\n').unwrap_or(body);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let mut messages = Vec::new();
    for (index, line) in body.split('\n').enumerate() {
        if index >= limits.max_batch_messages {
            return Err(ProtocolError::BatchTooLong {
                max: limits.max_batch_messages,
            });
        }
        let message = Message::parse(line, limits).map_err(|source| ProtocolError::BatchLine {
            line: index + 1,
            source: Box::new(source),
        })?;
        messages.push(message);
    }
    Ok(messages)
}

/// Writes an HTTP batch body: one message per line, joined by `\n` with none after the last,
/// as capnweb's `BatchServerTransport.getResponseBody` does.
pub fn write_batch(messages: &[Message]) -> String {
    let texts: Vec<String> = messages.iter().map(Message::to_text).collect();
    texts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PathKey;

    fn parse(text: &str) -> Result<Message, ProtocolError> {
        Message::parse(text, &Limits::default())
    }

    fn ok(text: &str) -> Message {
        match parse(text) {
            Ok(message) => message,
            Err(err) => panic!("{text}: {err}"),
        }
    }

    fn call(id: i64, method: &str, args: Vec<Expr>) -> Expr {
        Expr::Pipeline {
            id,
            path: vec![PathKey::Name(method.into())],
            args: Some(args),
        }
    }

    /// What a capnweb 0.12 client sends for `stub.greet("Alice")`, awaited then disposed
    /// (`sendCall`, `sendPull`, `sendRelease` in rpc.ts), and what the server answers.
    #[test]
    fn a_call_as_capnweb_sends_it() {
        let push = r#"["push",["pipeline",0,["greet"],["Alice"]]]"#;
        let expected = Message::Push(call(0, "greet", vec![Expr::String("Alice".into())]));
        assert_eq!(ok(push), expected);
        assert_eq!(expected.to_text(), push);
        assert_eq!(ok(r#"["pull",1]"#), Message::Pull(1));
        assert_eq!(ok(r#"["release",1,1]"#), Message::Release(1, 1));
        let resolve = Message::Resolve(1, Expr::String("Hello, Alice!".into()));
        assert_eq!(resolve.to_text(), r#"["resolve",1,"Hello, Alice!"]"#);
        let reject = Message::Reject(
            1,
            Expr::Error {
                kind: "Error".into(),
                message: "boom".into(),
                stack: None,
            },
        );
        assert_eq!(reject.to_text(), r#"["reject",1,["error","Error","boom"]]"#);
    }

    #[test]
    fn pipelining_and_callbacks() {
        // `stub.greet(stub.getUserInfo().name)`: the argument is a promise on import 1.
        let text = r#"["push",["pipeline",0,["greet"],[["pipeline",1,["name"]]]]]"#;
        let arg = Expr::Pipeline {
            id: 1,
            path: vec![PathKey::Name("name".into())],
            args: None,
        };
        assert_eq!(ok(text), Message::Push(call(0, "greet", vec![arg])));
        // `api.subscribe(event => ...)`: the client exports its function as -1.
        let text = r#"["push",["pipeline",0,["subscribe"],[["export",-1]]]]"#;
        assert_eq!(
            ok(text),
            Message::Push(call(0, "subscribe", vec![Expr::Export(-1)]))
        );
    }

    #[test]
    fn every_message_round_trips() {
        let e = || Expr::Object(vec![("n".into(), Expr::BigInt(7))]);
        for message in [
            Message::Push(e()),
            Message::Stream(call(-2, "write", vec![Expr::Bytes(vec![9])])),
            Message::Pipe,
            Message::Pull(3),
            Message::Resolve(-1, e()),
            Message::Reject(2, e()),
            Message::Release(-4, u32::MAX),
            Message::Abort(e()),
        ] {
            let text = message.to_text();
            assert_eq!(parse(&text).ok().as_ref(), Some(&message), "{text}");
            assert_eq!(
                serde_json::from_str::<Json>(&text).ok(),
                Some(message.to_json())
            );
        }
    }

    #[test]
    fn numbers_are_read_as_json_parse_reads_them() {
        let message = ok(r#"["resolve",1,95627.41259765625]"#);
        assert_eq!(
            message,
            Message::Resolve(1, Expr::Number(95627.41259765625))
        );
    }

    #[test]
    fn hostile_messages_are_errors() {
        for text in [
            "",
            "[",
            "\"push\"",
            "{}",
            "[]",
            "[1]",
            r#"["push"]"#,
            r#"["push",1,2]"#,
            r#"["pull"]"#,
            r#"["pull","1"]"#,
            r#"["pull",1.5]"#,
            r#"["pull",9007199254740993]"#,
            r#"["pull",-99999999999999999999999]"#,
            r#"["resolve",1]"#,
            r#"["reject","x",null]"#,
            r#"["release",1]"#,
            r#"["release",1,-1]"#,
            r#"["release",1,0]"#,
            r#"["release",1,1.5]"#,
            r#"["release",1,4294967296]"#,
            r#"["release",null,1]"#,
            r#"["abort"]"#,
            r#"["pipe",1]"#,
            r#"["push",["what"]]"#,
            r#"["push",[1,2,3]]"#,
            "[\"push\",\"\u{0}\"]",
            r#"["push",1] trailing"#,
        ] {
            assert!(parse(text).is_err(), "{text} parsed");
        }
    }

    #[test]
    fn error_messages_name_the_problem() {
        let message = |text| parse(text).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(message("{}"), "message is not a JSON array");
        assert_eq!(message(r#"["foo",1]"#), "unknown message type `foo`");
        assert_eq!(message("[1]"), "message type is not a string");
        assert_eq!(
            message(r#"["pull",1,2]"#),
            "`pull` has 3 elements, expected 2"
        );
        assert_eq!(
            message(r#"["release",1,-1]"#),
            "`release` refcount is not an integer from 1 to 4294967295"
        );
        assert_eq!(message("nope"), "message is not valid JSON");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(matches!(
            parse(&deep),
            Err(ProtocolError::TooDeep { max: 64 })
        ));
        let deep_push = format!("[\"push\",{}1{}]", "[[".repeat(50_000), "]]".repeat(50_000));
        assert!(matches!(
            parse(&deep_push),
            Err(ProtocolError::TooDeep { .. })
        ));
        // limits.test.ts's nested call arguments.
        let nested_calls = format!(
            "[\"push\",{}1{}]",
            r#"["pipeline",0,["echo"],["#.repeat(40),
            "]]".repeat(40)
        );
        assert!(matches!(
            parse(&nested_calls),
            Err(ProtocolError::TooDeep { .. })
        ));
        // Unclosed brackets are still counted.
        assert!(matches!(
            parse(&"{\"a\":[".repeat(100_000)),
            Err(ProtocolError::TooDeep { .. })
        ));
        let batch = format!("[\"pull\",1]\n{deep}");
        assert!(matches!(
            parse_batch(&batch, &Limits::default()),
            Err(ProtocolError::BatchLine { line: 2, .. })
        ));
    }

    #[test]
    fn the_deepest_allowed_message_parses() {
        let limits = Limits {
            max_depth: 127,
            ..Limits::default()
        };
        // 1 level for the message, 2 per escaped array: 63 arrays make 127.
        let text = format!("[\"push\",{}1{}]", "[[".repeat(63), "]]".repeat(63));
        assert!(Message::parse(&text, &limits).is_ok());
        let text = format!("[\"push\",{}1{}]", "[[".repeat(64), "]]".repeat(64));
        assert!(matches!(
            Message::parse(&text, &limits),
            Err(ProtocolError::TooDeep { max: 127 })
        ));
    }

    #[test]
    fn oversized_messages_are_refused_before_parsing() {
        let limits = Limits {
            max_message_bytes: 16,
            ..Limits::default()
        };
        assert!(Message::parse(r#"["pull",1]"#, &limits).is_ok());
        assert!(matches!(
            Message::parse(r#"["push","0123456789"]"#, &limits),
            Err(ProtocolError::MessageTooLarge { size: 21, max: 16 })
        ));
    }

    #[test]
    fn batches_are_newline_delimited() {
        let limits = Limits::default();
        assert_eq!(parse_batch("", &limits).ok(), Some(vec![]));
        let body = "[\"push\",[\"pipeline\",0,[\"greet\"],[\"Bob\"]]]\n[\"pull\",1]";
        let messages = parse_batch(body, &limits).unwrap_or_default();
        assert_eq!(messages.len(), 2);
        assert_eq!(write_batch(&messages), body);
        // Tolerated: a final newline, and CRLF line ends.
        assert_eq!(
            parse_batch(&format!("{body}\n"), &limits).ok(),
            Some(messages.clone())
        );
        assert_eq!(
            parse_batch(&body.replace('\n', "\r\n"), &limits).ok(),
            Some(messages)
        );
        assert_eq!(write_batch(&[]), "");
    }

    #[test]
    fn bad_batches_name_the_line() {
        let limits = Limits::default();
        let err = parse_batch("[\"pull\",1]\n\n[\"pull\",2]", &limits).err();
        assert!(matches!(
            err,
            Some(ProtocolError::BatchLine { line: 2, .. })
        ));
        let err = parse_batch("[\"pull\",1]\n[\"nope\"]", &limits).err();
        assert_eq!(
            err.as_ref().map(ToString::to_string).as_deref(),
            Some("invalid message on batch line 2")
        );
        let source = err
            .as_ref()
            .and_then(std::error::Error::source)
            .map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("unknown message type `nope`"));
    }

    #[test]
    fn batch_length_is_limited_before_parsing_the_extra_line() {
        let limits = Limits {
            max_batch_messages: 2,
            ..Limits::default()
        };
        assert!(parse_batch("[\"pull\",1]\n[\"pull\",2]", &limits).is_ok());
        assert!(matches!(
            parse_batch("[\"pull\",1]\n[\"pull\",2]\nnot json", &limits),
            Err(ProtocolError::BatchTooLong { max: 2 })
        ));
    }
}
