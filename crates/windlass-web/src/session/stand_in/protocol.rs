//! STAND-IN for `src/protocol/` (another helper's module, not yet in the tree): the Cap'n Web
//! messages and expressions, parsed from and written to their JSON text. Only what the session
//! needs; replace with the real module by deleting the `#[path]` line in `lib.rs`.

// A stand-in: public like the module it stands for; not every item is used yet.
#![allow(unreachable_pub, dead_code)]

use std::fmt;

use base64::Engine as _;
use serde_json::Value as Json;

/// Default [`Limits::max_depth`]: capnweb's `DEFAULT_MAX_DEPTH`.
pub const DEFAULT_MAX_DEPTH: usize = 256;
/// Default [`Limits::max_bigint_digits`]: capnweb's `maxBigIntDigits` would be 16 384; an
/// `i128` holds 39.
pub const DEFAULT_MAX_BIGINT_DIGITS: usize = 40;

/// What a peer's message may cost.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Bytes of one message's text.
    pub max_message_bytes: usize,
    /// Nesting depth of one message.
    pub max_depth: usize,
    /// Digits of a bigint.
    pub max_bigint_digits: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1 << 20,
            max_depth: DEFAULT_MAX_DEPTH,
            max_bigint_digits: DEFAULT_MAX_BIGINT_DIGITS,
        }
    }
}

/// A malformed message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Over [`Limits::max_message_bytes`].
    #[error("message of {0} bytes is over the limit of {1}")]
    TooLarge(usize, usize),
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Nested deeper than [`Limits::max_depth`].
    #[error("nested deeper than {0}")]
    TooDeep(usize),
    /// Not a message or expression capnweb sends.
    #[error("bad {0}")]
    Bad(String),
}

/// An element of a property path.
#[derive(Clone, Debug, PartialEq)]
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

/// An expression (capnweb `protocol.md`, "Expressions").
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `null`.
    Null,
    /// `["undefined"]`.
    Undefined,
    /// A boolean.
    Bool(bool),
    /// A number (also `["inf"]`, `["-inf"]`, `["nan"]`).
    Number(f64),
    /// `["bigint", "…"]`.
    BigInt(i128),
    /// A string.
    String(String),
    /// `["bytes", base64]`.
    Bytes(Vec<u8>),
    /// `["date", millis]`.
    Date(f64),
    /// `["error", type, message, stack?]`.
    Error {
        /// The error class name.
        kind: String,
        /// The message.
        message: String,
        /// The stack, if sent.
        stack: Option<String>,
    },
    /// `[[…]]`.
    Array(Vec<Expr>),
    /// An object.
    Object(Vec<(String, Expr)>),
    /// `["import", id, path?, args?]`.
    Import {
        /// The sender's import ID.
        id: i64,
        /// The property path.
        path: Vec<PathKey>,
        /// Call arguments, if a call.
        args: Option<Vec<Expr>>,
    },
    /// `["pipeline", id, path?, args?]`.
    Pipeline {
        /// The sender's import ID.
        id: i64,
        /// The property path.
        path: Vec<PathKey>,
        /// Call arguments, if a call.
        args: Option<Vec<Expr>>,
    },
    /// `["export", id]`.
    Export(i64),
    /// `["promise", id]`.
    Promise(i64),
    /// `["remap", …]` (`.map()`), kept unparsed.
    Remap {
        /// The sender's import ID.
        id: i64,
    },
}

/// A top-level message.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// `["push", expr]`.
    Push(Expr),
    /// `["pull", id]`.
    Pull(i64),
    /// `["resolve", id, expr]`.
    Resolve(i64, Expr),
    /// `["reject", id, expr]`.
    Reject(i64, Expr),
    /// `["release", id, refcount]`.
    Release(i64, u32),
    /// `["abort", expr]`.
    Abort(Expr),
}

impl Message {
    /// Parses one message.
    ///
    /// # Errors
    /// [`ProtocolError`] naming what is wrong.
    pub fn parse(text: &str, limits: &Limits) -> Result<Self, ProtocolError> {
        if text.len() > limits.max_message_bytes {
            return Err(ProtocolError::TooLarge(
                text.len(),
                limits.max_message_bytes,
            ));
        }
        // serde_json's own recursion limit (128) bounds the parse; ours bounds the evaluation.
        let json: Json = serde_json::from_str(text)?;
        let bad = || ProtocolError::Bad(format!("message {}", short(&json)));
        let Json::Array(items) = &json else {
            return Err(bad());
        };
        let tag = items.first().and_then(Json::as_str).ok_or_else(bad)?;
        let expr = |i: usize| {
            items
                .get(i)
                .map(|e| parse_expr(e, limits, 1))
                .ok_or_else(bad)?
        };
        let id = |i: usize| items.get(i).and_then(as_id).ok_or_else(bad);
        Ok(match (tag, items.len()) {
            ("push", 2) => Message::Push(expr(1)?),
            ("pull", 2) => Message::Pull(id(1)?),
            ("resolve", 3) => Message::Resolve(id(1)?, expr(2)?),
            ("reject", 3) => Message::Reject(id(1)?, expr(2)?),
            ("release", 3) => {
                let count = items[2]
                    .as_u64()
                    .and_then(|c| u32::try_from(c).ok())
                    .ok_or_else(bad)?;
                Message::Release(id(1)?, count)
            }
            ("abort", 2) => Message::Abort(expr(1)?),
            _ => return Err(bad()),
        })
    }

    /// The message's JSON text (one line).
    pub fn to_text(&self) -> String {
        let json = match self {
            Message::Push(e) => Json::Array(vec!["push".into(), write_expr(e)]),
            Message::Pull(id) => Json::Array(vec!["pull".into(), (*id).into()]),
            Message::Resolve(id, e) => {
                Json::Array(vec!["resolve".into(), (*id).into(), write_expr(e)])
            }
            Message::Reject(id, e) => {
                Json::Array(vec!["reject".into(), (*id).into(), write_expr(e)])
            }
            Message::Release(id, n) => {
                Json::Array(vec!["release".into(), (*id).into(), (*n).into()])
            }
            Message::Abort(e) => Json::Array(vec!["abort".into(), write_expr(e)]),
        };
        json.to_string()
    }
}

fn short(json: &Json) -> String {
    let mut text = json.to_string();
    if text.len() > 80 {
        let mut end = 80;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn as_id(json: &Json) -> Option<i64> {
    json.as_i64().or_else(|| {
        json.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

fn parse_expr(json: &Json, limits: &Limits, depth: usize) -> Result<Expr, ProtocolError> {
    if depth > limits.max_depth {
        return Err(ProtocolError::TooDeep(limits.max_depth));
    }
    let bad = || ProtocolError::Bad(format!("expression {}", short(json)));
    let sub = |j: &Json| parse_expr(j, limits, depth + 1);
    Ok(match json {
        Json::Null => Expr::Null,
        Json::Bool(b) => Expr::Bool(*b),
        Json::Number(n) => Expr::Number(n.as_f64().ok_or_else(bad)?),
        Json::String(s) => Expr::String(s.clone()),
        Json::Object(map) => Expr::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), sub(v)?)))
                .collect::<Result<_, ProtocolError>>()?,
        ),
        Json::Array(items) => {
            if let [Json::Array(inner)] = items.as_slice() {
                return Ok(Expr::Array(
                    inner.iter().map(sub).collect::<Result<_, _>>()?,
                ));
            }
            let tag = items.first().and_then(Json::as_str).ok_or_else(bad)?;
            let str_at = |i: usize| items.get(i).and_then(Json::as_str).ok_or_else(bad);
            match (tag, items.len()) {
                ("undefined", 1) => Expr::Undefined,
                ("inf", 1) => Expr::Number(f64::INFINITY),
                ("-inf", 1) => Expr::Number(f64::NEG_INFINITY),
                ("nan", 1) => Expr::Number(f64::NAN),
                ("bigint", 2) => {
                    let digits = str_at(1)?;
                    if digits.len() > limits.max_bigint_digits {
                        return Err(bad());
                    }
                    Expr::BigInt(digits.parse().map_err(|_| bad())?)
                }
                ("date", 2) => Expr::Date(items[1].as_f64().ok_or_else(bad)?),
                ("bytes", 2 | 3) => Expr::Bytes(
                    base64::engine::general_purpose::STANDARD
                        .decode(str_at(1)?)
                        .map_err(|_| bad())?,
                ),
                ("error", 3..=5) => Expr::Error {
                    kind: str_at(1)?.to_owned(),
                    message: str_at(2)?.to_owned(),
                    stack: items.get(3).and_then(Json::as_str).map(str::to_owned),
                },
                ("import" | "pipeline", 2..=4) => {
                    let id = as_id(&items[1]).ok_or_else(bad)?;
                    let path = match items.get(2) {
                        None => Vec::new(),
                        Some(Json::Array(keys)) => keys
                            .iter()
                            .map(|k| match k {
                                Json::String(s) => Ok(PathKey::Name(s.clone())),
                                Json::Number(n) => n.as_u64().map(PathKey::Index).ok_or_else(bad),
                                _ => Err(bad()),
                            })
                            .collect::<Result<_, _>>()?,
                        Some(_) => return Err(bad()),
                    };
                    let args = match items.get(3) {
                        None => None,
                        Some(Json::Array(args)) => {
                            Some(args.iter().map(sub).collect::<Result<_, _>>()?)
                        }
                        Some(_) => return Err(bad()),
                    };
                    if tag == "import" {
                        Expr::Import { id, path, args }
                    } else {
                        Expr::Pipeline { id, path, args }
                    }
                }
                ("export", 2) => Expr::Export(as_id(&items[1]).ok_or_else(bad)?),
                ("promise", 2) => Expr::Promise(as_id(&items[1]).ok_or_else(bad)?),
                ("remap", 5) => Expr::Remap {
                    id: as_id(&items[1]).ok_or_else(bad)?,
                },
                _ => return Err(bad()),
            }
        }
    })
}

fn write_number(n: f64) -> Json {
    if n.is_nan() {
        Json::Array(vec!["nan".into()])
    } else if n.is_infinite() {
        Json::Array(vec![if n > 0.0 { "inf" } else { "-inf" }.into()])
    } else if n.fract() == 0.0 && n.abs() < 9.0e15 {
        // Integral values as integers, as JSON.stringify writes them.
        Json::from(n as i64)
    } else {
        Json::from(n)
    }
}

fn write_expr(expr: &Expr) -> Json {
    let tagged = |tag: &str, rest: Vec<Json>| {
        let mut items = vec![Json::from(tag)];
        items.extend(rest);
        Json::Array(items)
    };
    match expr {
        Expr::Null => Json::Null,
        Expr::Undefined => tagged("undefined", vec![]),
        Expr::Bool(b) => Json::Bool(*b),
        Expr::Number(n) => write_number(*n),
        Expr::BigInt(n) => tagged("bigint", vec![n.to_string().into()]),
        Expr::String(s) => Json::String(s.clone()),
        Expr::Bytes(b) => tagged(
            "bytes",
            vec![base64::engine::general_purpose::STANDARD.encode(b).into()],
        ),
        Expr::Date(d) => tagged("date", vec![write_number(*d)]),
        Expr::Error {
            kind,
            message,
            stack,
        } => {
            let mut rest = vec![kind.as_str().into(), message.as_str().into()];
            if let Some(stack) = stack {
                rest.push(stack.as_str().into());
            }
            tagged("error", rest)
        }
        Expr::Array(items) => {
            Json::Array(vec![Json::Array(items.iter().map(write_expr).collect())])
        }
        Expr::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), write_expr(v)))
                .collect(),
        ),
        Expr::Import { id, path, args } | Expr::Pipeline { id, path, args } => {
            let tag = if matches!(expr, Expr::Import { .. }) {
                "import"
            } else {
                "pipeline"
            };
            let mut rest = vec![Json::from(*id)];
            if !path.is_empty() || args.is_some() {
                rest.push(Json::Array(
                    path.iter()
                        .map(|k| match k {
                            PathKey::Name(n) => Json::from(n.as_str()),
                            PathKey::Index(i) => Json::from(*i),
                        })
                        .collect(),
                ));
            }
            if let Some(args) = args {
                // Call arguments are a bare list of expressions, not an array expression.
                rest.push(Json::Array(args.iter().map(write_expr).collect()));
            }
            tagged(tag, rest)
        }
        Expr::Export(id) => tagged("export", vec![(*id).into()]),
        Expr::Promise(id) => tagged("promise", vec![(*id).into()]),
        Expr::Remap { id } => tagged("remap", vec![(*id).into()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_call() {
        let text = r#"["push",["pipeline",0,["evaluate"],[{"literal":3,"xs":[[1,2]]}]]]"#;
        let message = Message::parse(text, &Limits::default()).expect("parses");
        assert_eq!(message.to_text(), text);
    }

    #[test]
    fn refuses_garbage() {
        for text in [
            "",
            "[",
            "{}",
            r#"["push"]"#,
            r#"["pull","x"]"#,
            r#"["push",["what"]]"#,
        ] {
            assert!(Message::parse(text, &Limits::default()).is_err(), "{text}");
        }
    }
}
