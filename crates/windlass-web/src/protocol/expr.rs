//! Cap'n Web expressions: the JSON trees inside messages, and how we read them.
//!
//! The wire forms are capnweb 0.12's (`Devaluator` and `Evaluator` in its `src/serialize.ts`):
//! JSON scalars and objects stand for themselves, and every array is either an escaped literal
//! array `[[...]]` or a typed form `["tag", ...]`. We parse strictly: arities and operand types
//! are what capnweb sends, since a peer that sends anything else is not capnweb.

use std::fmt;

use serde_json::Value as Json;

use super::encode::BASE64;
use super::{Limits, ProtocolError};

/// The largest integer JavaScript represents exactly (2^53 - 1); capnweb's ids are JS numbers.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// How long a tag from the peer may be when we echo it in an error.
const MAX_ECHOED_TAG: usize = 64;

/// One step of a property path: capnweb sends property names as strings and, rarely, indexes
/// as numbers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathKey {
    /// A property name.
    Name(String),
    /// An array index.
    Index(u64),
}

impl fmt::Display for PathKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathKey::Name(name) => f.write_str(name),
            PathKey::Index(index) => write!(f, "{index}"),
        }
    }
}

/// A stub a `remap` mapper captured, named from the sender's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capture {
    /// `["import", id]`: an entry of the sender's import table (an export of the receiver's).
    Import(i64),
    /// `["export", id]`: an entry of the sender's export table, introduced by this capture.
    Export(i64),
}

/// The wire form of a Cap'n Web expression, in either direction.
///
/// Ids are as the sender numbers them: in `Import`/`Pipeline`/`Remap` they name the sender's
/// imports (the receiver's exports); in `Export`/`Promise` the sender's exports.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `null`.
    Null,
    /// `["undefined"]`.
    Undefined,
    /// `true` / `false`.
    Bool(bool),
    /// A number; infinities and NaN travel as `["inf"]`, `["-inf"]` and `["nan"]`.
    Number(f64),
    /// `["bigint", "<decimal>"]`, within the range of `i128`.
    BigInt(i128),
    /// A string.
    String(String),
    /// `["bytes", "<base64>"]`. A typed-array marker (`["bytes", b64, "Int32Array"]`) is checked
    /// and dropped: every byte container arrives as plain bytes.
    Bytes(Vec<u8>),
    /// `["date", millis]`; an invalid date (`["date", null]`) is NaN.
    Date(f64),
    /// `["error", kind, message, stack?, props?]`. The props (`cause`, `errors`, own fields)
    /// are checked like any expression and dropped: a Cap'n Proto exception has no place for
    /// them.
    Error {
        /// The `Error` subclass name (`"TypeError"`, ...).
        kind: String,
        /// The message.
        message: String,
        /// The stack trace, which capnweb redacts by default.
        stack: Option<String>,
    },
    /// A literal array, sent escaped as `[[...]]`.
    Array(Vec<Expr>),
    /// A plain object. Fields are written in this order; parsed objects come back in key order,
    /// since serde_json's map sorts them (and keeps the last of duplicate keys, as `JSON.parse`).
    Object(Vec<(String, Expr)>),
    /// `["import", id, path?, args?]`: a stub for (a property of, or a call on) an import.
    Import {
        /// The sender's import id.
        id: i64,
        /// The property path, empty for the import itself.
        path: Vec<PathKey>,
        /// Call arguments when the property is called.
        args: Option<Vec<Expr>>,
    },
    /// `["pipeline", id, path?, args?]`: like `Import`, but a promise.
    Pipeline {
        /// The sender's import id.
        id: i64,
        /// The property path, empty for the import itself.
        path: Vec<PathKey>,
        /// Call arguments when the property is called.
        args: Option<Vec<Expr>>,
    },
    /// `["export", id]`: a stub the sender exports (again).
    Export(i64),
    /// `["promise", id]`: a promise the sender exports and will resolve.
    Promise(i64),
    /// `["remap", id, path, captures, instructions]`: `.map()` over an import's property.
    Remap {
        /// The sender's import id.
        id: i64,
        /// The property path to map over.
        path: Vec<PathKey>,
        /// The stubs the mapper captured.
        captures: Vec<Capture>,
        /// The mapper's body. Inside it, `Pipeline`/`Import` ids are mapper-local: negative
        /// ids are captures (`-1` is `captures[0]`), 0 the input, positive earlier instructions.
        instructions: Vec<Expr>,
    },
}

impl Expr {
    /// Reads an expression from parsed JSON.
    ///
    /// # Errors
    /// A [`ProtocolError`] naming the first thing that is not a capnweb 0.12 expression, or
    /// the limit it exceeds. Nesting is checked before each step down, so no input can make this
    /// recurse deeper than [`Limits::max_depth`].
    pub fn parse(value: &Json, limits: &Limits) -> Result<Expr, ProtocolError> {
        Self::parse_nested(value, limits, 0)
    }

    /// [`parse`](Self::parse) for a value that sits inside `depth` arrays or objects already.
    pub(super) fn parse_nested(
        value: &Json,
        limits: &Limits,
        depth: usize,
    ) -> Result<Expr, ProtocolError> {
        Parser { limits }.expr(value, depth)
    }
}

struct Parser<'a> {
    limits: &'a Limits,
}

impl Parser<'_> {
    /// `depth` is the number of arrays and objects enclosing `value`.
    fn expr(&self, value: &Json, depth: usize) -> Result<Expr, ProtocolError> {
        Ok(match value {
            Json::Null => Expr::Null,
            Json::Bool(b) => Expr::Bool(*b),
            // Without serde_json's `arbitrary_precision`, every number converts.
            Json::Number(n) => Expr::Number(n.as_f64().unwrap_or(f64::NAN)),
            Json::String(s) => Expr::String(s.clone()),
            Json::Array(items) => self.form(items, self.enter(depth)?)?,
            Json::Object(map) => Expr::Object(self.fields(map, self.enter(depth)?, "object")?),
        })
    }

    fn enter(&self, depth: usize) -> Result<usize, ProtocolError> {
        let depth = depth + 1;
        if depth > self.limits.depth_limit() {
            return Err(ProtocolError::TooDeep {
                max: self.limits.depth_limit(),
            });
        }
        Ok(depth)
    }

    fn check_len(&self, what: &'static str, len: usize) -> Result<(), ProtocolError> {
        if len > self.limits.max_array_len {
            return Err(ProtocolError::TooLong {
                what,
                len,
                max: self.limits.max_array_len,
            });
        }
        Ok(())
    }

    /// The fields of an object at `depth` (the object's own level).
    fn fields(
        &self,
        map: &serde_json::Map<String, Json>,
        depth: usize,
        what: &'static str,
    ) -> Result<Vec<(String, Expr)>, ProtocolError> {
        self.check_len(what, map.len())?;
        map.iter()
            .map(|(k, v)| Ok((k.clone(), self.expr(v, depth)?)))
            .collect()
    }

    /// A list of expressions held in `value`, an array one level below `depth`.
    fn list(
        &self,
        value: &Json,
        depth: usize,
        tag: &'static str,
        what: &'static str,
    ) -> Result<Vec<Expr>, ProtocolError> {
        let items = value.as_array().ok_or(ProtocolError::MalformedExpression {
            tag,
            problem: "expected an array",
        })?;
        let depth = self.enter(depth)?;
        self.check_len(what, items.len())?;
        items.iter().map(|item| self.expr(item, depth)).collect()
    }

    /// An array at `depth`: an escaped literal array or a typed form.
    fn form(&self, items: &[Json], depth: usize) -> Result<Expr, ProtocolError> {
        if let [inner @ Json::Array(_)] = items {
            return Ok(Expr::Array(self.list(inner, depth, "array", "array")?));
        }
        let Some(Json::String(tag)) = items.first() else {
            return Err(ProtocolError::MalformedExpression {
                tag: "array",
                problem: "a literal array must be escaped as [[...]]",
            });
        };
        let ops = &items[1..];
        match tag.as_str() {
            "undefined" => arity("undefined", items, 1, 1).map(|()| Expr::Undefined),
            "inf" => arity("inf", items, 1, 1).map(|()| Expr::Number(f64::INFINITY)),
            "-inf" => arity("-inf", items, 1, 1).map(|()| Expr::Number(f64::NEG_INFINITY)),
            "nan" => arity("nan", items, 1, 1).map(|()| Expr::Number(f64::NAN)),
            "bigint" => arity("bigint", items, 2, 2).and_then(|()| bigint(&ops[0])),
            "date" => arity("date", items, 2, 2).and_then(|()| date(&ops[0])),
            "bytes" => arity("bytes", items, 2, 3).and_then(|()| bytes(ops)),
            "error" => arity("error", items, 3, 5).and_then(|()| self.error(ops, depth)),
            "import" => self.reference("import", items, depth),
            "pipeline" => self.reference("pipeline", items, depth),
            "export" => arity("export", items, 2, 2)
                .and_then(|()| id(&ops[0], "export"))
                .map(Expr::Export),
            "promise" => arity("promise", items, 2, 2)
                .and_then(|()| id(&ops[0], "promise"))
                .map(Expr::Promise),
            "remap" => arity("remap", items, 5, 5).and_then(|()| self.remap(ops, depth)),
            other => Err(unsupported(other)),
        }
    }

    fn error(&self, ops: &[Json], depth: usize) -> Result<Expr, ProtocolError> {
        let text = |v: &Json, problem| {
            v.as_str()
                .map(str::to_owned)
                .ok_or(ProtocolError::MalformedExpression {
                    tag: "error",
                    problem,
                })
        };
        let kind = text(&ops[0], "type is not a string")?;
        let message = text(&ops[1], "message is not a string")?;
        let stack = match ops.get(2) {
            None | Some(Json::Null) => None,
            Some(v) => Some(text(v, "stack is not a string or null")?),
        };
        match ops.get(3) {
            None => {}
            Some(Json::Object(map)) => {
                self.fields(map, self.enter(depth)?, "error props")?;
            }
            Some(_) => {
                return Err(ProtocolError::MalformedExpression {
                    tag: "error",
                    problem: "props is not an object",
                })
            }
        }
        Ok(Expr::Error {
            kind,
            message,
            stack,
        })
    }

    /// `["import" | "pipeline", id, path?, args?]`.
    fn reference(
        &self,
        tag: &'static str,
        items: &[Json],
        depth: usize,
    ) -> Result<Expr, ProtocolError> {
        arity(tag, items, 2, 4)?;
        let id = id(&items[1], tag)?;
        let path = match items.get(2) {
            Some(path) => self.path(path, tag)?,
            None => Vec::new(),
        };
        let args = match items.get(3) {
            Some(args) => Some(self.list(args, depth, tag, "argument list")?),
            None => None,
        };
        Ok(if tag == "import" {
            Expr::Import { id, path, args }
        } else {
            Expr::Pipeline { id, path, args }
        })
    }

    fn remap(&self, ops: &[Json], depth: usize) -> Result<Expr, ProtocolError> {
        let target = id(&ops[0], "remap")?;
        let path = self.path(&ops[1], "remap")?;
        let malformed = |problem| ProtocolError::MalformedExpression {
            tag: "remap",
            problem,
        };
        let captures = ops[2]
            .as_array()
            .ok_or(malformed("captures is not an array"))?;
        // The captures array and each ["import", id] inside it are two levels below the remap.
        self.enter(self.enter(depth)?)?;
        self.check_len("capture list", captures.len())?;
        let captures = captures
            .iter()
            .map(|capture| match capture.as_array().map(Vec::as_slice) {
                Some([Json::String(kind), id_json]) if kind == "import" => {
                    id(id_json, "remap").map(Capture::Import)
                }
                Some([Json::String(kind), id_json]) if kind == "export" => {
                    id(id_json, "remap").map(Capture::Export)
                }
                _ => Err(malformed("a capture is not [\"import\" | \"export\", id]")),
            })
            .collect::<Result<_, _>>()?;
        let instructions = self.list(&ops[3], depth, "remap", "instruction list")?;
        Ok(Expr::Remap {
            id: target,
            path,
            captures,
            instructions,
        })
    }

    /// A property path: an array of strings and non-negative integers. It holds no containers,
    /// so it needs no depth of its own beyond the check the text already passed.
    fn path(&self, value: &Json, tag: &'static str) -> Result<Vec<PathKey>, ProtocolError> {
        let malformed = |problem| ProtocolError::MalformedExpression { tag, problem };
        let keys = value
            .as_array()
            .ok_or(malformed("property path is not an array"))?;
        self.check_len("property path", keys.len())?;
        keys.iter()
            .map(|key| match key {
                Json::String(name) => Ok(PathKey::Name(name.clone())),
                Json::Number(n) => n
                    .as_u64()
                    .filter(|&i| i <= MAX_SAFE_INTEGER)
                    .map(PathKey::Index)
                    .ok_or(malformed("property index is not a non-negative integer")),
                _ => Err(malformed("property path holds a non-string, non-number")),
            })
            .collect()
    }
}

/// Checks that `items` (tag included) has `min..=max` elements.
fn arity(tag: &'static str, items: &[Json], min: usize, max: usize) -> Result<(), ProtocolError> {
    if (min..=max).contains(&items.len()) {
        return Ok(());
    }
    let expected = match (min, max) {
        (1, 1) => "1",
        (2, 2) => "2",
        (3, 3) => "3",
        (5, 5) => "5",
        (2, 3) => "2 or 3",
        (2, 4) => "2 to 4",
        (3, 5) => "3 to 5",
        _ => "a different number",
    };
    Err(ProtocolError::WrongArity {
        tag,
        got: items.len(),
        expected,
    })
}

/// An import or export id: an integer JavaScript holds exactly.
pub(super) fn id(value: &Json, tag: &'static str) -> Result<i64, ProtocolError> {
    value
        .as_i64()
        .filter(|id| id.unsigned_abs() <= MAX_SAFE_INTEGER)
        .ok_or(ProtocolError::BadId { tag })
}

/// The peer's tag, cut short so an error cannot echo megabytes back.
pub(super) fn clip(tag: &str) -> String {
    tag.chars().take(MAX_ECHOED_TAG).collect()
}

/// The error for a tag we do not read: named when capnweb defines it, unknown otherwise.
fn unsupported(tag: &str) -> ProtocolError {
    const CAPNWEB_ONLY: [&str; 7] = [
        "url", "headers", "request", "response", "blob", "writable", "readable",
    ];
    match CAPNWEB_ONLY.iter().find(|&&known| known == tag) {
        Some(known) => ProtocolError::UnsupportedExpression(known),
        None => ProtocolError::UnknownExpression(clip(tag)),
    }
}

fn bigint(value: &Json) -> Result<Expr, ProtocolError> {
    let malformed = |problem| ProtocolError::MalformedExpression {
        tag: "bigint",
        problem,
    };
    let text = value.as_str().ok_or(malformed("value is not a string"))?;
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("value is not a decimal integer"));
    }
    // `parse` is linear in the length, so no digit cap is needed before it (capnweb caps its
    // superlinear `BigInt()` at 16 Ki digits).
    text.parse::<i128>()
        .map(Expr::BigInt)
        .map_err(|_| malformed("value is outside the 128-bit range"))
}

fn date(value: &Json) -> Result<Expr, ProtocolError> {
    match value {
        // capnweb sends an invalid date (`getTime()` is NaN) as null.
        Json::Null => Ok(Expr::Date(f64::NAN)),
        Json::Number(n) => Ok(Expr::Date(n.as_f64().unwrap_or(f64::NAN))),
        _ => Err(ProtocolError::MalformedExpression {
            tag: "date",
            problem: "time is not a number or null",
        }),
    }
}

fn bytes(ops: &[Json]) -> Result<Expr, ProtocolError> {
    let malformed = |problem| ProtocolError::MalformedExpression {
        tag: "bytes",
        problem,
    };
    let b64 = ops[0]
        .as_str()
        .ok_or(malformed("payload is not a string"))?;
    let data = base64::Engine::decode(&BASE64, b64).map_err(ProtocolError::Base64)?;
    if let Some(marker) = ops.get(1) {
        let marker = marker
            .as_str()
            .ok_or(malformed("type marker is not a string"))?;
        let element_size = match marker {
            "ArrayBuffer" | "DataView" | "Int8Array" | "Uint8Array" | "Uint8ClampedArray" => 1,
            "Int16Array" | "Uint16Array" => 2,
            "Int32Array" | "Uint32Array" | "Float32Array" => 4,
            "BigInt64Array" | "BigUint64Array" | "Float64Array" => 8,
            _ => return Err(malformed("unknown type marker")),
        };
        if data.len() % element_size != 0 {
            return Err(malformed("length is not a multiple of the element size"));
        }
    }
    Ok(Expr::Bytes(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Expr, ProtocolError> {
        let json: Json = serde_json::from_str(text).map_err(ProtocolError::Json)?;
        Expr::parse(&json, &Limits::default())
    }

    fn ok(text: &str) -> Expr {
        match parse(text) {
            Ok(expr) => expr,
            Err(err) => panic!("{text}: {err}"),
        }
    }

    fn name(s: &str) -> PathKey {
        PathKey::Name(s.into())
    }

    #[test]
    fn scalars_stand_for_themselves() {
        assert_eq!(ok("null"), Expr::Null);
        assert_eq!(ok("true"), Expr::Bool(true));
        assert_eq!(ok("-2.5"), Expr::Number(-2.5));
        assert_eq!(
            ok("18446744073709551615"),
            Expr::Number(18446744073709551615.0)
        );
        assert_eq!(ok(r#""hi""#), Expr::String("hi".into()));
    }

    #[test]
    fn special_values() {
        assert_eq!(ok(r#"["undefined"]"#), Expr::Undefined);
        assert_eq!(ok(r#"["inf"]"#), Expr::Number(f64::INFINITY));
        assert_eq!(ok(r#"["-inf"]"#), Expr::Number(f64::NEG_INFINITY));
        assert!(matches!(ok(r#"["nan"]"#), Expr::Number(x) if x.is_nan()));
        assert_eq!(
            ok(r#"["bigint","-170141183460469231731687303715884105728"]"#),
            Expr::BigInt(i128::MIN)
        );
        assert_eq!(ok(r#"["date",1749342170815]"#), Expr::Date(1749342170815.0));
        assert!(matches!(ok(r#"["date",null]"#), Expr::Date(x) if x.is_nan()));
    }

    #[test]
    fn bytes_with_and_without_padding_and_markers() {
        // serialize.ts's own example: Uint8Array([1, 2, 3]) is ["bytes","AQID"].
        assert_eq!(ok(r#"["bytes","AQID"]"#), Expr::Bytes(vec![1, 2, 3]));
        assert_eq!(ok(r#"["bytes","AQI"]"#), Expr::Bytes(vec![1, 2]));
        assert_eq!(ok(r#"["bytes","AQI="]"#), Expr::Bytes(vec![1, 2]));
        assert_eq!(ok(r#"["bytes",""]"#), Expr::Bytes(vec![]));
        assert_eq!(
            ok(r#"["bytes","AQIDBA","Int32Array"]"#),
            Expr::Bytes(vec![1, 2, 3, 4])
        );
        assert!(parse(r#"["bytes","AQID","Int32Array"]"#).is_err());
        assert!(parse(r#"["bytes","AQID","Float16Array"]"#).is_err());
        assert!(matches!(
            parse(r#"["bytes","*"]"#),
            Err(ProtocolError::Base64(_))
        ));
    }

    #[test]
    fn errors_in_all_four_lengths() {
        let error = |stack: Option<&str>| Expr::Error {
            kind: "TypeError".into(),
            message: "bad".into(),
            stack: stack.map(str::to_owned),
        };
        assert_eq!(ok(r#"["error","TypeError","bad"]"#), error(None));
        assert_eq!(
            ok(r#"["error","TypeError","bad","at x"]"#),
            error(Some("at x"))
        );
        assert_eq!(
            ok(r#"["error","TypeError","bad",null,{"code":7}]"#),
            error(None)
        );
        // Props are checked even though they are dropped.
        assert!(parse(r#"["error","TypeError","bad",null,{"code":["nope"]}]"#).is_err());
        assert!(parse(r#"["error","TypeError","bad",null,[]]"#).is_err());
        assert!(parse(r#"["error","TypeError",5]"#).is_err());
    }

    #[test]
    fn escaped_arrays_and_objects() {
        // protocol.md's example of an object holding an array.
        let expr = ok(r#"{"key":[["abc",["date",1757214689123],[[0]]]]}"#);
        let array = Expr::Array(vec![
            Expr::String("abc".into()),
            Expr::Date(1757214689123.0),
            Expr::Array(vec![Expr::Number(0.0)]),
        ]);
        assert_eq!(expr, Expr::Object(vec![("key".into(), array)]));
        assert_eq!(ok("[[]]"), Expr::Array(vec![]));
        assert_eq!(ok("{}"), Expr::Object(vec![]));
    }

    #[test]
    fn references() {
        assert_eq!(
            ok(r#"["pipeline",0,["greet"],["Alice"]]"#),
            Expr::Pipeline {
                id: 0,
                path: vec![name("greet")],
                args: Some(vec![Expr::String("Alice".into())]),
            }
        );
        assert_eq!(
            ok(r#"["import",3,["users",2,"name"]]"#),
            Expr::Import {
                id: 3,
                path: vec![name("users"), PathKey::Index(2), name("name")],
                args: None,
            }
        );
        assert_eq!(
            ok(r#"["pipeline",2]"#),
            Expr::Pipeline {
                id: 2,
                path: vec![],
                args: None
            }
        );
        assert_eq!(ok(r#"["export",-1]"#), Expr::Export(-1));
        assert_eq!(ok(r#"["promise",-2]"#), Expr::Promise(-2));
    }

    #[test]
    fn remap_as_map_ts_builds_it() {
        // `.map(user => api.lookup(user.id))` over import 1, capturing import 0 (`api`).
        let text = r#"["remap",1,[],[["import",0]],[["pipeline",0,["id"]],
            ["pipeline",-1,["lookup"],[["pipeline",1]]]]]"#;
        assert_eq!(
            ok(text),
            Expr::Remap {
                id: 1,
                path: vec![],
                captures: vec![Capture::Import(0)],
                instructions: vec![
                    Expr::Pipeline {
                        id: 0,
                        path: vec![name("id")],
                        args: None
                    },
                    Expr::Pipeline {
                        id: -1,
                        path: vec![name("lookup")],
                        args: Some(vec![Expr::Pipeline {
                            id: 1,
                            path: vec![],
                            args: None
                        }]),
                    },
                ],
            }
        );
        assert!(parse(r#"["remap",1,[],[["stub",0]],[]]"#).is_err());
        assert!(parse(r#"["remap",1,[],[],{}]"#).is_err());
    }

    #[test]
    fn hostile_expressions_are_errors() {
        for text in [
            "[]",
            "[1,2]",
            r#"[null]"#,
            r#"["undefined",1]"#,
            r#"["bigint",5]"#,
            r#"["bigint",""]"#,
            r#"["bigint","0x10"]"#,
            r#"["bigint"," 1"]"#,
            r#"["bigint","1701411834604692317316873037158841057280"]"#,
            r#"["date","2020-01-01"]"#,
            r#"["bytes"]"#,
            r#"["bytes",[1,2]]"#,
            r#"["import"]"#,
            r#"["import","0"]"#,
            r#"["import",1.5]"#,
            r#"["import",9007199254740992]"#,
            r#"["import",-9007199254740992]"#,
            r#"["import",99999999999999999999]"#,
            r#"["import",0,"name"]"#,
            r#"["import",0,[true]]"#,
            r#"["import",0,[-1]]"#,
            r#"["import",0,[],{}]"#,
            r#"["import",0,[],[],1]"#,
            r#"["export"]"#,
            r#"["export",-1,true]"#,
            r#"["promise",{}]"#,
            r#"["remap",0,[],[]]"#,
        ] {
            assert!(parse(text).is_err(), "{text} parsed");
        }
    }

    #[test]
    fn error_messages_name_the_problem() {
        let message = |text| parse(text).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(message(r#"["foo"]"#), "unknown expression type `foo`");
        assert_eq!(
            message(r#"["blob","",["readable",1]]"#),
            "expression type `blob` is not supported"
        );
        assert_eq!(
            message(r#"["pipeline",0,[],[],[]]"#),
            "`pipeline` has 5 elements, expected 2 to 4"
        );
        assert_eq!(
            message(r#"["export",0.5]"#),
            "`export` id is not an integer within ±2^53"
        );
        assert_eq!(
            message("[1]"),
            "malformed `array` expression: a literal array must be escaped as [[...]]"
        );
        let long_tag = format!(r#"["{}"]"#, "x".repeat(10_000));
        assert_eq!(
            message(&long_tag).len(),
            "unknown expression type ``".len() + 64
        );
    }

    #[test]
    fn depth_is_checked_before_each_step_down() {
        // Built by hand, deeper than serde_json would parse: the walk must stop at the limit.
        let mut json = Json::from(1);
        for _ in 0..1_000 {
            json = Json::Array(vec![json]);
        }
        assert!(matches!(
            Expr::parse(&json, &Limits::default()),
            Err(ProtocolError::TooDeep { max: 64 })
        ));
        let limits = Limits {
            max_depth: 4,
            ..Limits::default()
        };
        let at = |text: &str| Expr::parse(&serde_json::from_str(text).unwrap_or_default(), &limits);
        // An array of arrays: two levels each.
        assert!(at("[[[[1]]]]").is_ok());
        assert!(at("[[[[[[1]]]]]]").is_err());
        assert!(at(r#"{"a":{"b":{"c":{"d":1}}}}"#).is_ok());
        assert!(at(r#"{"a":{"b":{"c":{"d":{}}}}}"#).is_err());
        // Arguments sit two levels below their pipeline's own.
        assert!(at(r#"["pipeline",0,[],[{"a":{}}]]"#).is_ok());
        assert!(at(r#"["pipeline",0,[],[[[{}]]]]"#).is_err());
    }

    #[test]
    fn lengths_are_limited() {
        let limits = Limits {
            max_array_len: 2,
            ..Limits::default()
        };
        let at = |text: &str| Expr::parse(&serde_json::from_str(text).unwrap_or_default(), &limits);
        assert!(at("[[1,2]]").is_ok());
        assert!(matches!(
            at("[[1,2,3]]"),
            Err(ProtocolError::TooLong {
                what: "array",
                len: 3,
                max: 2
            })
        ));
        assert!(at(r#"{"a":1,"b":2,"c":3}"#).is_err());
        assert!(at(r#"["pipeline",0,["a","b","c"]]"#).is_err());
        assert!(at(r#"["pipeline",0,[],[1,2,3]]"#).is_err());
    }

    #[test]
    fn path_keys_display_as_javascript_property_names() {
        assert_eq!(name("greet").to_string(), "greet");
        assert_eq!(PathKey::Index(3).to_string(), "3");
    }
}
