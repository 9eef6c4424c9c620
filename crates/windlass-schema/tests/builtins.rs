//! The standard schemas built into the crate (`src/stdlib.rs`) must declare exactly what the
//! official files do, since generated code refers to their IDs and layouts.
//!
//! `builtins_match_the_official_files`: each built-in is compiled by us from the embedded text
//! alone (no standard import paths, so its imports are built-ins too) and the official file by
//! `capnp compile -o-`; every node of both requests is described field by field (ID, names,
//! scope, nested nodes, generic parameters, annotations with values and brands, struct layout
//! and every field's slot / group, enumerants, methods, superclasses, const and annotation
//! types and values) and the descriptions must be equal. Doc comments (source info) and
//! `capnpVersion` are not compared: our comments are our own. The official `rust.capnp` is
//! capnpc's, taken from the cargo registry. Without the tool the test is ignored (decided at
//! build time), unless `WINDLASS_REQUIRE_CAPNP=1`, which turns a missing tool into a failure.
//!
//! The other tests need no tool: a user schema using `/capnp/schema.capnp`'s `Node` compiles
//! with the embedded copy and capnpc generates Rust for it; a file in an import path wins over
//! the built-in of the same name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use capnp::message::ReaderOptions;
use capnp::schema_capnp::{annotation, brand, code_generator_request, field, node, type_, value};

fn tool() -> String {
    std::env::var("WINDLASS_CAPNP").unwrap_or_else(|_| "capnp".into())
}

fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "windlass-schema-builtins-{what}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Node descriptions by ID, plus one entry describing the requested files.
type Described = BTreeMap<u64, Vec<String>>;

fn describe_request(bytes: &[u8]) -> capnp::Result<Described> {
    let msg = capnp::serialize::read_message(bytes, ReaderOptions::new())?;
    let req: code_generator_request::Reader<'_> = msg.get_root()?;
    let mut out = BTreeMap::new();
    for n in req.get_nodes()? {
        let mut lines = Vec::new();
        describe_node(n, &mut lines)?;
        // A catch-all for anything the lines above might miss: the node's canonical encoding.
        let mut m = capnp::message::Builder::new_default();
        m.set_root_canonical(n)?;
        lines.push(format!(
            "canonical fnv {:x}",
            fnv(m.get_segments_for_output()[0])
        ));
        out.insert(n.get_id(), lines);
    }
    let mut files = Vec::new();
    for f in req.get_requested_files()? {
        files.push(format!(
            "requested @0x{:x} {:?}",
            f.get_id(),
            f.get_filename()?.to_str()?
        ));
        for i in f.get_imports()? {
            files.push(format!(
                "  import @0x{:x} {:?}",
                i.get_id(),
                i.get_name()?.to_str()?
            ));
        }
    }
    out.insert(0, files);
    Ok(out)
}

fn describe_node(n: node::Reader<'_>, o: &mut Vec<String>) -> capnp::Result<()> {
    o.push(format!(
        "displayName {:?} (prefix {})",
        n.get_display_name()?.to_str()?,
        n.get_display_name_prefix_length()
    ));
    o.push(format!("scopeId @0x{:x}", n.get_scope_id()));
    o.push(format!("isGeneric {}", n.get_is_generic()));
    for p in n.get_parameters()? {
        o.push(format!("parameter {:?}", p.get_name()?.to_str()?));
    }
    for nn in n.get_nested_nodes()? {
        o.push(format!(
            "nested {:?} @0x{:x}",
            nn.get_name()?.to_str()?,
            nn.get_id()
        ));
    }
    annotations(n.get_annotations()?, "", o)?;
    match n.which()? {
        node::File(()) => o.push("file".into()),
        node::Struct(s) => {
            o.push(format!(
                "struct words {} pointers {} list {:?} group {} discriminants {} at {}",
                s.get_data_word_count(),
                s.get_pointer_count(),
                s.get_preferred_list_encoding()
                    .map_or(u16::MAX, |e| e as u16),
                s.get_is_group(),
                s.get_discriminant_count(),
                s.get_discriminant_offset()
            ));
            for f in s.get_fields()? {
                describe_field(f, o)?;
            }
        }
        node::Enum(e) => {
            for en in e.get_enumerants()? {
                let at = format!("enumerant {:?}", en.get_name()?.to_str()?);
                o.push(format!("{at} codeOrder {}", en.get_code_order()));
                annotations(en.get_annotations()?, &at, o)?;
            }
        }
        node::Interface(i) => {
            for s in i.get_superclasses()? {
                o.push(format!(
                    "superclass @0x{:x} {}",
                    s.get_id(),
                    brand_text(s.get_brand()?)?
                ));
            }
            for m in i.get_methods()? {
                let at = format!("method {:?}", m.get_name()?.to_str()?);
                o.push(format!(
                    "{at} codeOrder {} params @0x{:x} {} results @0x{:x} {}",
                    m.get_code_order(),
                    m.get_param_struct_type(),
                    brand_text(m.get_param_brand()?)?,
                    m.get_result_struct_type(),
                    brand_text(m.get_result_brand()?)?
                ));
                for p in m.get_implicit_parameters()? {
                    o.push(format!("{at} implicit {:?}", p.get_name()?.to_str()?));
                }
                annotations(m.get_annotations()?, &at, o)?;
            }
        }
        node::Const(c) => o.push(format!(
            "const {} = {}",
            type_text(c.get_type()?)?,
            value_text(c.get_value()?)?
        )),
        node::Annotation(a) => {
            let targets = [
                a.get_targets_file(),
                a.get_targets_const(),
                a.get_targets_enum(),
                a.get_targets_enumerant(),
                a.get_targets_struct(),
                a.get_targets_field(),
                a.get_targets_union(),
                a.get_targets_group(),
                a.get_targets_interface(),
                a.get_targets_method(),
                a.get_targets_param(),
                a.get_targets_annotation(),
            ];
            o.push(format!(
                "annotation {} targets {targets:?}",
                type_text(a.get_type()?)?
            ));
        }
    }
    Ok(())
}

fn describe_field(f: field::Reader<'_>, o: &mut Vec<String>) -> capnp::Result<()> {
    let at = format!("field {:?}", f.get_name()?.to_str()?);
    let ordinal = match f.get_ordinal().which()? {
        field::ordinal::Implicit(()) => "implicit".to_string(),
        field::ordinal::Explicit(n) => format!("@{n}"),
    };
    o.push(format!(
        "{at} codeOrder {} discriminant {} ordinal {ordinal}",
        f.get_code_order(),
        f.get_discriminant_value()
    ));
    match f.which()? {
        field::Slot(s) => o.push(format!(
            "{at} slot offset {} type {} default {} explicit {}",
            s.get_offset(),
            type_text(s.get_type()?)?,
            value_text(s.get_default_value()?)?,
            s.get_had_explicit_default()
        )),
        field::Group(g) => o.push(format!("{at} group @0x{:x}", g.get_type_id())),
    }
    annotations(f.get_annotations()?, &at, o)
}

fn annotations(
    list: capnp::struct_list::Reader<'_, annotation::Owned>,
    at: &str,
    o: &mut Vec<String>,
) -> capnp::Result<()> {
    for a in list {
        o.push(format!(
            "{at} ${:x} {} = {}",
            a.get_id(),
            brand_text(a.get_brand()?)?,
            value_text(a.get_value()?)?
        ));
    }
    Ok(())
}

fn brand_text(b: brand::Reader<'_>) -> capnp::Result<String> {
    let mut out = Vec::new();
    for s in b.get_scopes()? {
        let how = match s.which()? {
            brand::scope::Inherit(()) => "inherit".to_string(),
            brand::scope::Bind(list) => {
                let mut bs = Vec::new();
                for binding in list? {
                    bs.push(match binding.which()? {
                        brand::binding::Unbound(()) => "unbound".to_string(),
                        brand::binding::Type(t) => type_text(t?)?,
                    });
                }
                bs.join(", ")
            }
        };
        out.push(format!("@0x{:x}[{how}]", s.get_scope_id()));
    }
    Ok(format!("<{}>", out.join(" ")))
}

fn type_text(t: type_::Reader<'_>) -> capnp::Result<String> {
    use type_::any_pointer as ap;
    Ok(match t.which()? {
        type_::List(l) => format!("List({})", type_text(l.get_element_type()?)?),
        type_::Enum(e) => format!(
            "enum @0x{:x}{}",
            e.get_type_id(),
            brand_text(e.get_brand()?)?
        ),
        type_::Struct(s) => {
            format!(
                "struct @0x{:x}{}",
                s.get_type_id(),
                brand_text(s.get_brand()?)?
            )
        }
        type_::Interface(i) => {
            format!(
                "interface @0x{:x}{}",
                i.get_type_id(),
                brand_text(i.get_brand()?)?
            )
        }
        type_::AnyPointer(p) => match p.which()? {
            ap::Unconstrained(u) => match u.which()? {
                ap::unconstrained::AnyKind(()) => "AnyPointer".into(),
                ap::unconstrained::Struct(()) => "AnyStruct".into(),
                ap::unconstrained::List(()) => "AnyList".into(),
                ap::unconstrained::Capability(()) => "Capability".into(),
            },
            ap::Parameter(p) => format!(
                "parameter {} of @0x{:x}",
                p.get_parameter_index(),
                p.get_scope_id()
            ),
            ap::ImplicitMethodParameter(p) => {
                format!("method parameter {}", p.get_parameter_index())
            }
        },
        type_::Void(()) => "Void".into(),
        type_::Bool(()) => "Bool".into(),
        type_::Int8(()) => "Int8".into(),
        type_::Int16(()) => "Int16".into(),
        type_::Int32(()) => "Int32".into(),
        type_::Int64(()) => "Int64".into(),
        type_::Uint8(()) => "UInt8".into(),
        type_::Uint16(()) => "UInt16".into(),
        type_::Uint32(()) => "UInt32".into(),
        type_::Uint64(()) => "UInt64".into(),
        type_::Float32(()) => "Float32".into(),
        type_::Float64(()) => "Float64".into(),
        type_::Text(()) => "Text".into(),
        type_::Data(()) => "Data".into(),
    })
}

fn value_text(v: value::Reader<'_>) -> capnp::Result<String> {
    Ok(match v.which()? {
        value::Void(()) => "void".into(),
        value::Bool(b) => format!("bool {b}"),
        value::Int8(n) => format!("int8 {n}"),
        value::Int16(n) => format!("int16 {n}"),
        value::Int32(n) => format!("int32 {n}"),
        value::Int64(n) => format!("int64 {n}"),
        value::Uint8(n) => format!("uint8 {n}"),
        value::Uint16(n) => format!("uint16 {n}"),
        value::Uint32(n) => format!("uint32 {n}"),
        value::Uint64(n) => format!("uint64 {n}"),
        value::Float32(n) => format!("float32 bits {:x}", n.to_bits()),
        value::Float64(n) => format!("float64 bits {:x}", n.to_bits()),
        value::Text(t) => format!("text {:?}", t?.to_str()?),
        value::Data(d) => format!("data {:?}", d?),
        value::Enum(n) => format!("enum {n}"),
        value::Interface(()) => "interface".into(),
        value::List(p) => format!("list {:?}", canonical(p)?),
        value::Struct(p) => format!("struct {:?}", canonical(p)?),
        value::AnyPointer(p) => format!("anyPointer {:?}", canonical(p)?),
    })
}

/// A pointer value's canonical encoding, which is equal exactly when the values are.
fn canonical(p: capnp::any_pointer::Reader<'_>) -> capnp::Result<Vec<u8>> {
    if p.is_null() {
        return Ok(Vec::new());
    }
    let mut m = capnp::message::Builder::new_default();
    m.set_root_canonical(p)?;
    Ok(m.get_segments_for_output()[0].to_vec())
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn first(lines: &[String]) -> &str {
    lines.first().map_or("", String::as_str)
}

/// The lines in which two descriptions differ, for the failure message.
fn differences(name: &str, reference: &Described, ours: &Described) -> Vec<String> {
    let mut out = Vec::new();
    for (id, r) in reference {
        match ours.get(id) {
            None => out.push(format!(
                "{name}: node @0x{id:x} ({}) missing in ours",
                first(r)
            )),
            Some(o) if o != r => {
                let only_r: Vec<&String> = r.iter().filter(|l| !o.contains(l)).collect();
                let only_o: Vec<&String> = o.iter().filter(|l| !r.contains(l)).collect();
                out.push(format!(
                    "{name}: node @0x{id:x} differs\n  official: {only_r:?}\n  ours:     {only_o:?}{}",
                    if only_r.is_empty() && only_o.is_empty() { " (order)" } else { "" }
                ));
            }
            Some(_) => {}
        }
    }
    for (id, o) in ours {
        if !reference.contains_key(id) {
            out.push(format!(
                "{name}: node @0x{id:x} ({}) only in ours",
                first(o)
            ));
        }
    }
    out
}

/// The official file of a built-in: capnpc ships `rust.capnp` (taken from the cargo registry),
/// the C++ tool the others (in `/usr/include`).
fn official(name: &str) -> Option<PathBuf> {
    if name != "capnp/rust.capnp" {
        let p = Path::new("/usr/include").join(name);
        return p.is_file().then_some(p);
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(home.join("registry/src"))
        .ok()?
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|d| d.file_name().to_string_lossy().starts_with("capnpc-0.27."))
        .map(|d| d.path().join("rust.capnp"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

fn reference(name: &str, file: &Path, dir: &Path) -> Result<Vec<u8>, String> {
    // The official file goes under `dir/capnp/` so that it has the built-in's name.
    let copy = dir.join(name);
    std::fs::create_dir_all(copy.parent().expect("a parent")).map_err(|e| e.to_string())?;
    std::fs::copy(file, &copy).map_err(|e| e.to_string())?;
    let out = Command::new(tool())
        .arg("compile")
        .arg("-o-")
        .arg("-I/usr/include")
        .arg("--src-prefix")
        .arg(dir)
        .arg(&copy)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(out.stdout)
}

fn embedded_only() -> windlass_schema::SchemaCompiler {
    let mut c = windlass_schema::SchemaCompiler::new();
    c.standard_import_paths(false)
        .embedded_standard_schemas(true);
    c
}

#[test]
#[cfg_attr(
    not(capnp_tool),
    ignore = "the C++ capnp tool (the oracle) is not installed; set WINDLASS_REQUIRE_CAPNP=1 to make this a failure"
)]
fn builtins_match_the_official_files() {
    let require = std::env::var("WINDLASS_REQUIRE_CAPNP").as_deref() == Ok("1");
    if !cfg!(capnp_tool) {
        assert!(
            !require,
            "WINDLASS_REQUIRE_CAPNP=1 but the capnp tool does not run"
        );
    }
    let dir = scratch("official");
    let mut failures = Vec::new();
    let mut compared = 0;
    for &name in windlass_schema::embedded_schema_names() {
        let Some(file) = official(name) else {
            let why = format!("{name}: the official file was not found, not compared");
            assert!(!require, "WINDLASS_REQUIRE_CAPNP=1: {why}");
            println!("{why}");
            continue;
        };
        let text = windlass_schema::embedded_schema(name).expect("a listed built-in has text");
        let ours = match embedded_only().compile_source(name, text) {
            Ok(r) => capnp::serialize::write_message_to_words(&r),
            Err(e) => {
                failures.push(format!("{name}: the built-in does not compile:\n{e}"));
                continue;
            }
        };
        let theirs = match reference(name, &file, &dir) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!(
                    "{name}: the C++ tool failed on {}: {e}",
                    file.display()
                ));
                continue;
            }
        };
        let ours = describe_request(&ours).expect("our request reads back");
        let theirs = describe_request(&theirs).expect("the tool's request reads back");
        assert!(
            theirs.len() > 1,
            "{name}: the official request has no nodes"
        );
        println!(
            "{name}: {} nodes, {} lines",
            theirs.len() - 1,
            theirs.values().map(Vec::len).sum::<usize>()
        );
        failures.extend(differences(name, &theirs, &ours));
        compared += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{compared} of {} built-ins compared",
        windlass_schema::embedded_schema_names().len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const USES_NODE: &str = r#"@0xd3a1c4e5f6a7b8c9;
using Schema = import "/capnp/schema.capnp";

struct Catalogue {
  nodes @0 :List(Schema.Node);
  root @1 :Schema.Node;
  size @2 :Schema.ElementSize = inlineComposite;
}
"#;

#[test]
fn a_schema_using_node_compiles_with_the_embedded_copy_and_generates_rust() {
    let request = embedded_only()
        .compile_source("catalogue.capnp", USES_NODE)
        .expect("the user schema compiles with the built-in schema.capnp");
    let bytes = capnp::serialize::write_message_to_words(&request);
    let described = describe_request(&bytes).expect("the request reads back");
    let node_id = 0xe682_ab4c_f923_a417; // schema.capnp's Node, as generated code knows it
    assert!(described.contains_key(&node_id), "Node is in the request");
    let out = scratch("generated");
    capnpc::codegen::CodeGenerationCommand::new()
        .output_directory(&out)
        .run(&bytes[..])
        .expect("capnpc generates Rust");
    let code = std::fs::read_to_string(out.join("catalogue_capnp.rs")).expect("generated file");
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        code.contains("pub mod catalogue"),
        "the struct is generated"
    );
    assert!(
        code.contains("crate::schema_capnp::node::Reader"),
        "the Node field refers to schema.capnp's generated module"
    );
    assert!(
        code.contains("crate::schema_capnp::ElementSize"),
        "the enum field has schema.capnp's type:\n{}",
        code.lines()
            .filter(|l| l.contains("schema_capnp"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn a_file_in_an_import_path_takes_precedence_over_the_builtin() {
    let dir = scratch("precedence");
    std::fs::create_dir_all(dir.join("capnp")).expect("capnp directory");
    std::fs::write(
        dir.join("capnp/rpc-twoparty.capnp"),
        "@0xa184c7885cdaf2a1;\nstruct OnlyOnDisk {}\n",
    )
    .expect("write the stand-in");
    let user = "@0xe4b2c6d8f0a1b3c5;\nusing T = import \"/capnp/rpc-twoparty.capnp\";\n\
                struct S { a @0 :T.OnlyOnDisk; }\n";
    let mut c = embedded_only();
    c.import_path(&dir);
    let with_dir = c.compile_source("user.capnp", user);
    let without = embedded_only().compile_source("user.capnp", user);
    let _ = std::fs::remove_dir_all(&dir);
    with_dir.expect("the import path's file is used");
    assert!(without.is_err(), "the built-in has no OnlyOnDisk");
}

#[test]
#[cfg_attr(
    not(capnp_tool),
    ignore = "the C++ capnp tool (the oracle) is not installed; set WINDLASS_REQUIRE_CAPNP=1 to make this a failure"
)]
fn code_generated_with_the_embedded_copy_is_the_tools() {
    if !cfg!(capnp_tool) {
        assert!(
            std::env::var("WINDLASS_REQUIRE_CAPNP").as_deref() != Ok("1"),
            "WINDLASS_REQUIRE_CAPNP=1 but the capnp tool does not run"
        );
    }
    let dir = scratch("user");
    let file = dir.join("catalogue.capnp");
    std::fs::write(&file, USES_NODE).expect("write the user schema");
    let out = Command::new(tool())
        .args(["compile", "-o-", "-I/usr/include", "--src-prefix"])
        .arg(&dir)
        .arg(&file)
        .output()
        .expect("the capnp tool runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = embedded_only()
        .compile_source("catalogue.capnp", USES_NODE)
        .expect("the user schema compiles with the built-in schema.capnp");
    let ours = capnp::serialize::write_message_to_words(&ours);
    let mut code = Vec::new();
    for (what, request) in [("ours", &ours[..]), ("theirs", &out.stdout[..])] {
        let target = dir.join(what);
        std::fs::create_dir_all(&target).expect("output directory");
        capnpc::codegen::CodeGenerationCommand::new()
            .output_directory(&target)
            .run(request)
            .expect("capnpc generates Rust");
        code.push(std::fs::read(target.join("catalogue_capnp.rs")).expect("generated file"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(code[0] == code[1], "the generated Rust differs");
}
