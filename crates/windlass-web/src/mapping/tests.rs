//! The mapping against `schema/test.capnp`: every type both ways, defaults, unions, groups,
//! nested lists, capabilities, and errors that name the field path.

use capnp::any_pointer;
use capnp::private::capability::ClientHook;
use capnp::traits::ImbueMut;

use super::raw::PointerMut;
use super::{decode_args, decode_object, encode_args, encode_object, MapError, MAX_DEPTH};
use crate::schema::tests::{compiled, id_of};
use crate::schema::Schema;
use crate::{CapId, Caps, Value};

/// Capabilities as indexes into a list of hooks (broken ones: nothing is called).
#[derive(Default)]
struct TestCaps {
    hooks: Vec<Box<dyn ClientHook>>,
}

impl TestCaps {
    fn with(n: usize) -> Self {
        let hooks = (0..n)
            .map(|_| capnp_rpc::new_broken_cap(capnp::Error::failed("test".into())).hook)
            .collect();
        Self { hooks }
    }
}

impl Caps for TestCaps {
    fn to_capnp(&mut self, cap: CapId, _: u64) -> Result<Box<dyn ClientHook>, String> {
        let hook = self.hooks.get(cap.0 as usize).ok_or("unknown capability")?;
        Ok(hook.add_ref())
    }

    fn to_web(&mut self, hook: Box<dyn ClientHook>, _: u64) -> CapId {
        self.hooks.push(hook);
        CapId(self.hooks.len() as u64 - 1)
    }
}

fn obj(fields: &[(&str, Value)]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn num(n: f64) -> Value {
    Value::Number(n)
}

fn text(s: &str) -> Value {
    Value::String(s.into())
}

fn arr(items: &[Value]) -> Value {
    Value::Array(items.to_vec())
}

/// `value` written as struct `name`, then read back as that struct.
fn round_trip(schema: &Schema, name: &str, value: &Value) -> Result<Value, MapError> {
    round_trip_as(schema, name, value, name, &mut TestCaps::with(4))
}

/// `value` written as struct `write`, read back as struct `read`.
fn round_trip_as(
    schema: &Schema,
    write: &str,
    value: &Value,
    read: &str,
    caps: &mut TestCaps,
) -> Result<Value, MapError> {
    let mut message = capnp::message::Builder::new_default();
    let mut table = Vec::new();
    let mut root: any_pointer::Builder<'_> = message.init_root();
    root.imbue_mut(&mut table);
    encode_object(schema, id_of(schema, write), value, root.reborrow(), caps)?;
    decode_object(schema, id_of(schema, read), root.into_reader(), caps)
}

/// The field at a dotted `path` of a decoded object.
fn at<'v>(value: &'v Value, path: &str) -> &'v Value {
    path.split('.')
        .try_fold(value, |v, key| v.field(key))
        .unwrap_or_else(|| panic!("no `{path}` in {value:?}"))
}

fn encode_error(name: &str, value: &Value) -> String {
    let schema = compiled();
    match round_trip(&schema, name, value) {
        Ok(decoded) => panic!("{value:?} encoded as {decoded:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn every_type_round_trips() {
    let schema = compiled();
    let inner = |n: f64| obj(&[("n", num(n)), ("next", Value::Null)]);
    let fields = [
        ("void", Value::Null),
        ("bool", Value::Bool(true)),
        ("i8", num(-128.0)),
        ("i16", num(32767.0)),
        ("i32", num(-2147483648.0)),
        ("i64", Value::BigInt(i128::from(i64::MIN))),
        ("u8", num(255.0)),
        ("u16", num(65535.0)),
        ("u32", num(4294967295.0)),
        ("u64", Value::BigInt(i128::from(u64::MAX))),
        ("f32", num(1.5)),
        ("f64", num(-0.1)),
        ("text", text("héllo")),
        ("data", Value::Bytes(vec![0, 1, 255])),
        ("color", text("green")),
        ("inner", inner(3.0)),
        ("structs", arr(&[inner(1.0), inner(2.0)])),
        (
            "nested",
            arr(&[arr(&[num(1.0), num(2.0)]), arr(&[]), arr(&[num(3.0)])]),
        ),
        ("colors", arr(&[text("blue"), text("red")])),
        ("texts", arr(&[text("a"), text("")])),
        ("datas", arr(&[Value::Bytes(vec![7]), Value::Bytes(vec![])])),
        (
            "bools",
            arr(&[Value::Bool(true), Value::Bool(false), Value::Bool(true)]),
        ),
        ("deep", arr(&[arr(&[arr(&[inner(9.0)])])])),
        ("point", obj(&[("x", num(-1.0)), ("y", num(2.0))])),
    ];
    let decoded = round_trip(&schema, "All", &obj(&fields)).expect("round trip");
    for (name, value) in &fields {
        assert_eq!(at(&decoded, name), value, "{name}");
    }
}

#[test]
fn capabilities_and_lists_of_them_round_trip() {
    let schema = compiled();
    let mut caps = TestCaps::with(3);
    let value = obj(&[
        ("cap", Value::Cap(CapId(0))),
        (
            "caps",
            arr(&[Value::Cap(CapId(1)), Value::Null, Value::Cap(CapId(2))]),
        ),
    ]);
    let decoded = round_trip_as(&schema, "All", &value, "All", &mut caps).expect("round trip");
    // Every capability read comes back as a new handle of the session's (fields in code order).
    assert_eq!(at(&decoded, "cap"), &Value::Cap(CapId(5)));
    assert_eq!(
        at(&decoded, "caps"),
        &arr(&[Value::Cap(CapId(3)), Value::Null, Value::Cap(CapId(4))])
    );
    let error = round_trip_as(&schema, "All", &obj(&[("cap", num(1.0))]), "All", &mut caps)
        .expect_err("a number for a capability");
    assert_eq!(
        error.to_string(),
        "`cap`: expected a capability, got number"
    );
    let unknown = obj(&[("caps", arr(&[Value::Cap(CapId(99))]))]);
    let error = round_trip_as(&schema, "All", &unknown, "All", &mut caps).expect_err("unknown");
    assert_eq!(error.to_string(), "`caps[0]`: unknown capability");
}

#[test]
fn sixty_four_bit_integers_are_bigints() {
    let schema = compiled();
    let decoded = round_trip(
        &schema,
        "All",
        &obj(&[("i64", num(-5.0)), ("u64", num(7.0))]),
    )
    .expect("exact numbers are accepted");
    assert_eq!(at(&decoded, "i64"), &Value::BigInt(-5));
    assert_eq!(at(&decoded, "u64"), &Value::BigInt(7));
    assert_eq!(
        at(&decoded, "i32"),
        &num(0.0),
        "narrower integers are numbers"
    );
    let error = encode_error("All", &obj(&[("i64", num(1e17))]));
    assert!(
        error.starts_with("`i64`: ") && error.contains("bigint"),
        "{error}"
    );
    let error = encode_error("All", &obj(&[("u64", Value::BigInt(-1))]));
    assert_eq!(error, "`u64`: -1 is out of range for UInt64");
}

#[test]
fn defaults_apply_both_ways() {
    let schema = compiled();
    let unset = round_trip(&schema, "Defaults", &obj(&[])).expect("empty");
    assert_eq!(at(&unset, "five"), &num(5.0));
    assert_eq!(at(&unset, "flag"), &Value::Bool(true));
    assert_eq!(at(&unset, "ratio"), &num(1.5));
    assert_eq!(at(&unset, "small"), &num(0.25));
    assert_eq!(at(&unset, "name"), &text("anon"));
    assert_eq!(at(&unset, "color"), &text("blue"));
    assert_eq!(at(&unset, "inner.n"), &num(7.0));
    assert_eq!(at(&unset, "list"), &arr(&[num(1.0), num(2.0), num(3.0)]));
    assert_eq!(at(&unset, "big"), &Value::BigInt(-3));
    assert_eq!(at(&unset, "blob"), &Value::Bytes(vec![1, 2]));
    // `null` in a pointer field reads back as the default too.
    let nulls = obj(&[("name", Value::Null), ("list", Value::Null)]);
    let decoded = round_trip(&schema, "Defaults", &nulls).expect("nulls");
    assert_eq!(at(&decoded, "name"), &text("anon"));
    // Explicit values, zeros included, round-trip through the XOR.
    let set = obj(&[
        ("five", num(0.0)),
        ("flag", Value::Bool(false)),
        ("ratio", num(0.0)),
        ("small", num(-2.0)),
        ("color", text("red")),
        ("big", Value::BigInt(9)),
        ("name", text("")),
        ("list", arr(&[])),
    ]);
    let decoded = round_trip(&schema, "Defaults", &set).expect("explicit");
    for key in [
        "five", "flag", "ratio", "small", "color", "big", "name", "list",
    ] {
        assert_eq!(at(&decoded, key), set.field(key).expect("set"), "{key}");
    }
}

#[test]
fn defaults_are_xored_on_the_wire() {
    let schema = compiled();
    let mut caps = TestCaps::default();
    // Written with Defaults' schema, read with the same layout without defaults: the wire holds
    // value XOR default, as every Cap'n Proto implementation expects.
    let value = obj(&[
        ("five", num(5.0)),
        ("flag", Value::Bool(true)),
        ("ratio", num(1.5)),
    ]);
    let plain = round_trip_as(&schema, "Defaults", &value, "NoDefaults", &mut caps).expect("read");
    assert_eq!(at(&plain, "five"), &num(0.0));
    assert_eq!(at(&plain, "flag"), &Value::Bool(false));
    assert_eq!(at(&plain, "ratio"), &num(0.0));
    let value = obj(&[("five", num(4.0))]);
    let plain = round_trip_as(&schema, "Defaults", &value, "NoDefaults", &mut caps).expect("read");
    assert_eq!(at(&plain, "five"), &num(f64::from(4 ^ 5)));
}

#[test]
fn unions_hold_exactly_the_active_member() {
    let schema = compiled();
    let square = obj(&[("square", obj(&[("side", num(2.0)), ("label", text("sq"))]))]);
    let decoded = round_trip(&schema, "All", &obj(&[("shape", square.clone())])).expect("square");
    assert_eq!(at(&decoded, "shape"), &square);
    let decoded = round_trip(
        &schema,
        "All",
        &obj(&[("shape", obj(&[("none", Value::Null)]))]),
    )
    .expect("void member");
    assert_eq!(at(&decoded, "shape"), &obj(&[("none", Value::Null)]));
    let nested = obj(&[("negate", obj(&[("negate", obj(&[("literal", num(4.0))]))]))]);
    assert_eq!(round_trip(&schema, "Expr", &nested).expect("expr"), nested);
    let two = obj(&[("literal", num(1.0)), ("negate", obj(&[]))]);
    let error = encode_error("Expr", &two);
    assert_eq!(
        error,
        "`literal` and `negate` are members of one union: give one"
    );
    let error = encode_error(
        "All",
        &obj(&[("shape", obj(&[("circle", num(1.0)), ("none", Value::Null)]))]),
    );
    assert!(error.starts_with("`shape`: "), "{error}");
}

#[test]
fn errors_name_the_field_path() {
    let cases = [
        (
            obj(&[("color", text("purple"))]),
            "`color`: unknown enumerant \"purple\" (one of: red, green, blue)",
        ),
        (
            obj(&[("colors", arr(&[text("red"), text("mauve")]))]),
            "`colors[1]`: unknown enumerant \"mauve\" (one of: red, green, blue)",
        ),
        (
            obj(&[("inner", obj(&[("n", num(2147483648.0))]))]),
            "`inner.n`: 2147483648 is out of range for Int32",
        ),
        (
            obj(&[("structs", arr(&[obj(&[]), obj(&[("n", num(-1e10))])]))]),
            "`structs[1].n`: -10000000000 is out of range for Int32",
        ),
        (
            obj(&[("u8", num(256.0))]),
            "`u8`: 256 is out of range for UInt8",
        ),
        (
            obj(&[("u16", num(-1.0))]),
            "`u16`: -1 is out of range for UInt16",
        ),
        (
            obj(&[("i16", num(1.5))]),
            "`i16`: 1.5 is not an integer (Int16)",
        ),
        (
            obj(&[("text", num(5.0))]),
            "`text`: expected a string, got number",
        ),
        (
            obj(&[("data", text("x"))]),
            "`data`: expected bytes, got string",
        ),
        (
            obj(&[("bool", num(1.0))]),
            "`bool`: expected a boolean, got number",
        ),
        (
            obj(&[("void", num(1.0))]),
            "`void`: expected null, got number",
        ),
        (
            obj(&[("inner", arr(&[]))]),
            "`inner`: expected an object, got array",
        ),
        (
            obj(&[("texts", text("a"))]),
            "`texts`: expected an array, got string",
        ),
        (
            obj(&[("nested", arr(&[arr(&[num(1.0), text("2")])]))]),
            "`nested[0][1]`: expected a number, got string",
        ),
        (
            obj(&[("point", obj(&[("z", num(1.0))]))]),
            "`point.z`: no such field in test.capnp:All.point",
        ),
        (
            obj(&[("nope", num(1.0))]),
            "`nope`: no such field in test.capnp:All",
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(encode_error("All", &value), expected, "{value:?}");
    }
    let error = encode_error("All", &obj(&[("f32", num(1e39))]));
    assert!(error.starts_with("`f32`: 1000") && error.ends_with("out of range for Float32"));
    assert_eq!(
        encode_error("All", &num(1.0)),
        "expected an object, got number"
    );
}

/// An `Inner` chain `levels` deep, as a value.
fn chain(levels: usize) -> Value {
    (0..levels).fold(Value::Null, |next, _| {
        obj(&[("n", num(1.0)), ("next", next)])
    })
}

#[test]
fn encoding_stops_at_the_depth_limit() {
    let schema = compiled();
    assert!(round_trip(&schema, "Inner", &chain(MAX_DEPTH)).is_ok());
    let error = round_trip(&schema, "Inner", &chain(MAX_DEPTH + 2)).expect_err("too deep");
    assert!(
        error.to_string().contains("nested deeper than 64"),
        "{error}"
    );
    let mut lists = arr(&[]);
    for _ in 0..100 {
        lists = arr(&[lists]);
    }
    let error = encode_error("All", &obj(&[("nested", lists)]));
    assert!(error.starts_with("`nested[0]"), "{error}");
}

#[test]
fn decoding_stops_at_the_depth_limit() {
    let schema = compiled();
    let inner = id_of(&schema, "Inner");
    let mut caps = TestCaps::default();
    // Built bottom up, each message's root copied into the next one's `next`: deeper than the
    // encoder would write, as a hostile peer's message may be.
    let mut message = capnp::message::Builder::new_default();
    encode_object(&schema, inner, &chain(1), message.init_root(), &mut caps).expect("leaf");
    for _ in 0..MAX_DEPTH + 5 {
        let mut outer = capnp::message::Builder::new_default();
        let root: any_pointer::Builder<'_> = outer.init_root();
        encode_object(&schema, inner, &chain(1), root, &mut caps).expect("level");
        let PointerMut(pointer) = outer
            .get_root::<any_pointer::Builder<'_>>()
            .expect("root")
            .get_as::<PointerMut<'_>>()
            .expect("pointer");
        let size = capnp::private::layout::StructSize {
            data: 1,
            pointers: 1,
        };
        // `next` is Inner's only pointer.
        let next = pointer
            .get_struct(size, None)
            .expect("struct")
            .get_pointer_field(0);
        let previous = message
            .get_root_as_reader::<any_pointer::Reader<'_>>()
            .expect("root");
        any_pointer::Builder::new(next)
            .set_as(previous)
            .expect("copy");
        message = outer;
    }
    let root = message
        .get_root_as_reader::<any_pointer::Reader<'_>>()
        .expect("root");
    let error = decode_object(&schema, inner, root, &mut caps).expect_err("too deep");
    assert!(
        error.to_string().contains("nested deeper than 64"),
        "{error}"
    );
}

#[test]
fn arguments_are_positional_in_ordinal_order() {
    let schema = compiled();
    let echo = schema
        .interface_by_name("Echo")
        .and_then(|i| i.method("echo"))
        .expect("echo");
    let mut caps = TestCaps::default();
    let mut message = capnp::message::Builder::new_default();
    let root: any_pointer::Builder<'_> = message.init_root();
    encode_args(&schema, echo.params, &[num(3.0)], root, &mut caps).expect("one argument");
    let root = message
        .get_root_as_reader::<any_pointer::Reader<'_>>()
        .expect("root");
    let args = decode_args(&schema, echo.params, root, &mut caps).expect("decode");
    assert_eq!(
        args,
        [num(3.0), text("none")],
        "a missing argument is its default"
    );
    let root: any_pointer::Builder<'_> = message.init_root();
    let error = encode_args(
        &schema,
        echo.params,
        &[num(1.0), text("a"), num(2.0)],
        root,
        &mut caps,
    )
    .expect_err("three arguments");
    assert_eq!(error.to_string(), "expected at most 2 argument(s), got 3");
    let root: any_pointer::Builder<'_> = message.init_root();
    let error = encode_args(&schema, echo.params, &[text("x")], root, &mut caps)
        .expect_err("a string for an Int32");
    assert_eq!(error.to_string(), "`x`: expected a number, got string");
}

#[test]
fn unknown_enumerants_decode_as_numbers() {
    let schema = compiled();
    // 7 is no Color: written as a number (as C++'s JSON codec accepts), read back as one.
    let decoded = round_trip(&schema, "All", &obj(&[("color", num(7.0))])).expect("number");
    assert_eq!(at(&decoded, "color"), &num(7.0));
}
