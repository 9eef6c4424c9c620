//! Writing expressions the way capnweb 0.12 reads them (its `Evaluator` in `src/serialize.ts`).
//!
//! Two writers of one format: [`Expr::to_json`] builds a `serde_json::Value` (whose objects sort
//! their keys), and [`Expr::write_text`] writes the JSON text directly, keeping object fields in
//! the order the `Expr` holds them and skipping the intermediate tree. The tests hold them equal.

use std::fmt::Write as _;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value as Json;

use super::expr::{Capture, Expr, PathKey};

/// capnweb writes base64 without padding (`toBase64({omitPadding: true})`, then strips `=`),
/// and reads it with Node's `Buffer.from` or `Uint8Array.fromBase64`, which take either.
pub(super) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Integral numbers below this magnitude are written without a fraction, as `JSON.stringify`
/// writes them (`3`, not serde_json's `3.0`).
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

impl Expr {
    /// The expression as a JSON tree. Object fields come out in key order (serde_json's map);
    /// use [`write_text`](Self::write_text) to keep the `Expr`'s order.
    ///
    /// # Panics
    /// Never for trees a parser or a Cap'n Proto reader built; recursion is as deep as the tree.
    pub fn to_json(&self) -> Json {
        match self {
            Expr::Null => Json::Null,
            Expr::Undefined => tagged("undefined", []),
            Expr::Bool(b) => Json::Bool(*b),
            Expr::Number(x) => number(*x),
            Expr::BigInt(i) => tagged("bigint", [Json::String(i.to_string())]),
            Expr::String(s) => Json::String(s.clone()),
            Expr::Bytes(data) => tagged("bytes", [base64::Engine::encode(&BASE64, data).into()]),
            Expr::Date(ms) if ms.is_finite() => tagged("date", [number(*ms)]),
            Expr::Date(_) => tagged("date", [Json::Null]),
            Expr::Error {
                kind,
                message,
                stack,
            } => {
                let mut items = vec![
                    "error".into(),
                    kind.as_str().into(),
                    message.as_str().into(),
                ];
                if let Some(stack) = stack {
                    items.push(stack.as_str().into());
                }
                Json::Array(items)
            }
            Expr::Array(items) => {
                Json::Array(vec![Json::Array(items.iter().map(Expr::to_json).collect())])
            }
            Expr::Object(fields) => object(fields),
            Expr::Import { id, path, args } => reference("import", *id, path, args.as_deref()),
            Expr::Pipeline { id, path, args } => reference("pipeline", *id, path, args.as_deref()),
            Expr::Export(id) => tagged("export", [(*id).into()]),
            Expr::Promise(id) => tagged("promise", [(*id).into()]),
            Expr::Remap {
                id,
                path,
                captures,
                instructions,
            } => tagged(
                "remap",
                [
                    (*id).into(),
                    path_json(path),
                    Json::Array(captures.iter().map(capture_json).collect()),
                    Json::Array(instructions.iter().map(Expr::to_json).collect()),
                ],
            ),
        }
    }

    /// Appends the expression's JSON text to `out`: one line, no whitespace, object fields in
    /// the `Expr`'s order.
    pub fn write_text(&self, out: &mut String) {
        match self {
            Expr::Null => out.push_str("null"),
            Expr::Undefined => out.push_str("[\"undefined\"]"),
            Expr::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Expr::Number(x) => write_number(out, *x),
            Expr::BigInt(i) => {
                let _ = write!(out, "[\"bigint\",\"{i}\"]");
            }
            Expr::String(s) => write_str(out, s),
            Expr::Bytes(data) => {
                out.push_str("[\"bytes\",\"");
                base64::Engine::encode_string(&BASE64, data, out);
                out.push_str("\"]");
            }
            Expr::Date(ms) => {
                out.push_str("[\"date\",");
                if ms.is_finite() {
                    write_number(out, *ms);
                } else {
                    out.push_str("null");
                }
                out.push(']');
            }
            Expr::Error {
                kind,
                message,
                stack,
            } => {
                out.push_str("[\"error\",");
                write_str(out, kind);
                out.push(',');
                write_str(out, message);
                if let Some(stack) = stack {
                    out.push(',');
                    write_str(out, stack);
                }
                out.push(']');
            }
            Expr::Array(items) => {
                out.push_str("[[");
                write_list(out, items);
                out.push_str("]]");
            }
            Expr::Object(fields) => write_object(out, fields),
            Expr::Import { id, path, args } => write_reference(out, "import", *id, path, args),
            Expr::Pipeline { id, path, args } => write_reference(out, "pipeline", *id, path, args),
            Expr::Export(id) => {
                let _ = write!(out, "[\"export\",{id}]");
            }
            Expr::Promise(id) => {
                let _ = write!(out, "[\"promise\",{id}]");
            }
            Expr::Remap {
                id,
                path,
                captures,
                instructions,
            } => {
                let _ = write!(out, "[\"remap\",{id},");
                write_path(out, path);
                out.push_str(",[");
                for (i, capture) in captures.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = match capture {
                        Capture::Import(id) => write!(out, "[\"import\",{id}]"),
                        Capture::Export(id) => write!(out, "[\"export\",{id}]"),
                    };
                }
                out.push_str("],[");
                write_list(out, instructions);
                out.push_str("]]");
            }
        }
    }

    /// The expression as one line of JSON text (see [`write_text`](Self::write_text)).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write_text(&mut out);
        out
    }
}

fn tagged<const N: usize>(tag: &str, ops: [Json; N]) -> Json {
    let mut items = Vec::with_capacity(N + 1);
    items.push(Json::String(tag.to_owned()));
    items.extend(ops);
    Json::Array(items)
}

fn number(x: f64) -> Json {
    if x.is_nan() {
        tagged("nan", [])
    } else if x == f64::INFINITY {
        tagged("inf", [])
    } else if x == f64::NEG_INFINITY {
        tagged("-inf", [])
    } else if x.fract() == 0.0 && x.abs() < EXACT_INTEGER_LIMIT {
        // Exact: |x| < 2^53 and integral. `-0.0` becomes 0, as in `JSON.stringify(-0)`.
        Json::from(x as i64)
    } else {
        Json::from(x)
    }
}

fn object(fields: &[(String, Expr)]) -> Json {
    Json::Object(
        fields
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect(),
    )
}

/// capnweb omits trailing empty parts: `["pipeline", id]` when there is no path and no call.
fn reference(tag: &str, id: i64, path: &[PathKey], args: Option<&[Expr]>) -> Json {
    let mut items = vec![Json::String(tag.to_owned()), id.into()];
    if !path.is_empty() || args.is_some() {
        items.push(path_json(path));
    }
    if let Some(args) = args {
        items.push(Json::Array(args.iter().map(Expr::to_json).collect()));
    }
    Json::Array(items)
}

fn path_json(path: &[PathKey]) -> Json {
    Json::Array(
        path.iter()
            .map(|key| match key {
                PathKey::Name(name) => Json::String(name.clone()),
                PathKey::Index(i) => Json::from(*i),
            })
            .collect(),
    )
}

fn capture_json(capture: &Capture) -> Json {
    match capture {
        Capture::Import(id) => tagged("import", [(*id).into()]),
        Capture::Export(id) => tagged("export", [(*id).into()]),
    }
}

fn write_list(out: &mut String, items: &[Expr]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        item.write_text(out);
    }
}

fn write_object(out: &mut String, fields: &[(String, Expr)]) {
    out.push('{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, key);
        out.push(':');
        value.write_text(out);
    }
    out.push('}');
}

fn write_reference(
    out: &mut String,
    tag: &str,
    id: i64,
    path: &[PathKey],
    args: &Option<Vec<Expr>>,
) {
    let _ = write!(out, "[\"{tag}\",{id}");
    if !path.is_empty() || args.is_some() {
        out.push(',');
        write_path(out, path);
    }
    if let Some(args) = args {
        out.push_str(",[");
        write_list(out, args);
        out.push(']');
    }
    out.push(']');
}

fn write_path(out: &mut String, path: &[PathKey]) {
    out.push('[');
    for (i, key) in path.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match key {
            PathKey::Name(name) => write_str(out, name),
            PathKey::Index(index) => {
                let _ = write!(out, "{index}");
            }
        }
    }
    out.push(']');
}

/// `number`'s text; writing to a `String` cannot fail, hence the ignored results here and above.
fn write_number(out: &mut String, x: f64) {
    let _ = write!(out, "{}", number(x));
}

/// A JSON string literal. Escapes what JSON requires (`"`, `\`, controls); everything else,
/// U+2028 included, is valid in JSON text as it is.
fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::Limits;

    /// Both writers agree, and the reader gives back what was written.
    fn round_trips(expr: &Expr) -> Result<(), TestCaseError> {
        let json = expr.to_json();
        let text = expr.to_text();
        let reparsed: Json =
            serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&reparsed, &json, "text {}", text);
        prop_assert!(!text.contains('\n'));
        let parsed = Expr::parse(&json, &Limits::default()).ok();
        prop_assert_eq!(parsed.as_ref(), Some(expr), "json {}", json);
        Ok(())
    }

    fn check(expr: Expr) {
        if let Err(err) = round_trips(&expr) {
            panic!("{expr:?}: {err}");
        }
    }

    fn text(expr: &Expr) -> String {
        expr.to_text()
    }

    #[test]
    fn every_form_round_trips() {
        let pipeline = |id, args| Expr::Pipeline {
            id,
            path: vec![PathKey::Name("m".into()), PathKey::Index(1)],
            args,
        };
        for expr in [
            Expr::Null,
            Expr::Undefined,
            Expr::Bool(false),
            Expr::Number(3.0),
            Expr::Number(-0.5),
            Expr::Number(1e300),
            Expr::Number(f64::MIN_POSITIVE),
            Expr::Number(f64::INFINITY),
            Expr::Number(f64::NEG_INFINITY),
            Expr::BigInt(i128::MAX),
            Expr::BigInt(-1),
            Expr::String("line\nbreak \"quoted\" \\ \u{1} \u{2028} é".into()),
            Expr::Bytes(vec![]),
            Expr::Bytes((0..=255).collect()),
            Expr::Date(-1.0),
            Expr::Error {
                kind: "RangeError".into(),
                message: "too big".into(),
                stack: None,
            },
            Expr::Error {
                kind: "Error".into(),
                message: String::new(),
                stack: Some("at f (x.js:1)".into()),
            },
            Expr::Array(vec![Expr::Array(vec![]), Expr::Null]),
            Expr::Object(vec![
                ("a".into(), Expr::Array(vec![Expr::Number(1.0)])),
                ("b".into(), Expr::Object(vec![])),
            ]),
            pipeline(0, None),
            pipeline(-3, Some(vec![])),
            pipeline(
                5,
                Some(vec![Expr::Array(vec![Expr::Export(-1)]), Expr::Promise(-2)]),
            ),
            Expr::Import {
                id: 9_007_199_254_740_991,
                path: vec![],
                args: None,
            },
            Expr::Import {
                id: 1,
                path: vec![],
                args: Some(vec![Expr::Undefined]),
            },
            Expr::Remap {
                id: 2,
                path: vec![PathKey::Name("list".into())],
                captures: vec![Capture::Import(0), Capture::Export(-4)],
                instructions: vec![
                    pipeline(0, None),
                    pipeline(-1, Some(vec![pipeline(1, None)])),
                ],
            },
        ] {
            check(expr);
        }
    }

    #[test]
    fn shapes_are_capnweb_s() {
        assert_eq!(text(&Expr::Bytes(vec![1, 2, 3])), r#"["bytes","AQID"]"#);
        // Unpadded, as capnweb writes it.
        assert_eq!(text(&Expr::Bytes(vec![1, 2])), r#"["bytes","AQI"]"#);
        assert_eq!(text(&Expr::BigInt(-12)), r#"["bigint","-12"]"#);
        assert_eq!(text(&Expr::Number(3.0)), "3");
        assert_eq!(text(&Expr::Number(-0.0)), "0");
        assert_eq!(text(&Expr::Number(0.1)), "0.1");
        assert_eq!(text(&Expr::Number(f64::NAN)), r#"["nan"]"#);
        assert_eq!(text(&Expr::Date(f64::NAN)), r#"["date",null]"#);
        assert_eq!(
            text(&Expr::Array(vec![Expr::String("a".into())])),
            r#"[["a"]]"#
        );
        let no_path = Expr::Pipeline {
            id: 4,
            path: vec![],
            args: None,
        };
        assert_eq!(text(&no_path), r#"["pipeline",4]"#);
        let call = Expr::Pipeline {
            id: 0,
            path: vec![PathKey::Name("greet".into())],
            args: Some(vec![Expr::String("Alice".into())]),
        };
        // Arguments are a bare list of expressions, not an escaped array.
        assert_eq!(text(&call), r#"["pipeline",0,["greet"],["Alice"]]"#);
    }

    #[test]
    fn text_keeps_field_order_where_json_sorts() {
        let expr = Expr::Object(vec![
            ("z".into(), Expr::Null),
            ("a".into(), Expr::Bool(true)),
        ]);
        assert_eq!(text(&expr), r#"{"z":null,"a":true}"#);
        assert_eq!(expr.to_json().to_string(), r#"{"a":true,"z":null}"#);
    }

    #[test]
    fn nan_round_trips_as_nan() {
        for expr in [Expr::Number(f64::NAN), Expr::Date(f64::NAN)] {
            let parsed = Expr::parse(&expr.to_json(), &Limits::default());
            assert!(matches!(parsed, Ok(Expr::Number(x) | Expr::Date(x)) if x.is_nan()));
        }
    }

    fn path_key() -> impl Strategy<Value = PathKey> + Clone {
        prop_oneof![
            "[a-z]{0,6}".prop_map(PathKey::Name),
            (0u64..1 << 53).prop_map(PathKey::Index),
        ]
    }

    fn id() -> impl Strategy<Value = i64> {
        -(1i64 << 53) + 1..1 << 53
    }

    fn number() -> impl Strategy<Value = f64> {
        any::<f64>().prop_filter("finite", |x| x.is_finite())
    }

    fn expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            Just(Expr::Null),
            Just(Expr::Undefined),
            any::<bool>().prop_map(Expr::Bool),
            number().prop_map(Expr::Number),
            any::<i128>().prop_map(Expr::BigInt),
            any::<String>().prop_map(Expr::String),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Expr::Bytes),
            number().prop_map(Expr::Date),
            (
                any::<String>(),
                any::<String>(),
                proptest::option::of(any::<String>())
            )
                .prop_map(|(kind, message, stack)| Expr::Error {
                    kind,
                    message,
                    stack
                }),
            id().prop_map(Expr::Export),
            id().prop_map(Expr::Promise),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            let list = proptest::collection::vec(inner.clone(), 0..6);
            let path = proptest::collection::vec(path_key(), 0..3);
            prop_oneof![
                list.clone().prop_map(Expr::Array),
                // Sorted, unique keys: the order serde_json's map reads them back in.
                proptest::collection::btree_map("[a-z]{0,4}", inner, 0..6)
                    .prop_map(|map| Expr::Object(map.into_iter().collect())),
                (id(), path.clone(), proptest::option::of(list.clone()))
                    .prop_map(|(id, path, args)| Expr::Pipeline { id, path, args }),
                (id(), path.clone(), proptest::option::of(list.clone()))
                    .prop_map(|(id, path, args)| Expr::Import { id, path, args }),
                (id(), path, proptest::collection::vec(id(), 0..3), list).prop_map(
                    |(id, path, captures, instructions)| Expr::Remap {
                        id,
                        path,
                        captures: captures
                            .into_iter()
                            .map(|c| if c % 2 == 0 {
                                Capture::Import(c)
                            } else {
                                Capture::Export(c)
                            })
                            .collect(),
                        instructions,
                    }
                ),
            ]
        })
    }

    proptest! {
        #[test]
        fn generated_expressions_round_trip(expr in expr()) {
            round_trips(&expr)?;
        }
    }
}
