//! Loading the test schema (`test.capnp`, compiled here with windlass-schema) and looking
//! things up in it. [`compiled`] is shared with the mapping's tests.

use super::{FieldType, Schema};

/// `test.capnp`, compiled at test time.
pub(crate) fn compiled() -> Schema {
    let request = windlass_schema::SchemaCompiler::new()
        .compile_source("test.capnp", include_str!("test.capnp"))
        .expect("test.capnp compiles");
    let bytes = capnp::serialize::write_message_to_words(&request);
    Schema::from_request_bytes(&bytes).expect("the request loads")
}

/// The ID of the struct or interface whose scoped name is `name`.
pub(crate) fn id_of(schema: &Schema, name: &str) -> u64 {
    let full = format!("test.capnp:{name}");
    schema
        .structs
        .values()
        .find(|s| s.name == full)
        .map(|s| s.id)
        .or_else(|| schema.interface_by_name(name).map(|i| i.id()))
        .unwrap_or_else(|| panic!("no {name} in test.capnp"))
}

#[test]
fn inherited_methods_name_their_declaring_interface() {
    let schema = compiled();
    let echo = id_of(&schema, "Echo");
    let named = schema.interface_by_name("Named").expect("Named");
    let own = named.method("name").expect("own method");
    assert_eq!((own.interface_id, own.ordinal), (named.id(), 0));
    let inherited = named.method("echo").expect("inherited method");
    assert_eq!((inherited.interface_id, inherited.ordinal), (echo, 0));
    assert_eq!(named.methods().len(), 2);
    assert!(
        named.single_method().is_none(),
        "two methods: not a function"
    );
    let only = schema.interface(echo).and_then(|i| i.single_method());
    assert_eq!(only.map(|m| m.name.as_str()), Some("echo"));
}

#[test]
fn interface_names_full_scoped_or_unique_short() {
    let schema = compiled();
    let scoped = schema.interface_by_name("Scope.Leaf").expect("scoped name");
    assert_eq!(scoped.name(), "test.capnp:Scope.Leaf");
    assert_eq!(
        schema
            .interface_by_name("test.capnp:Scope.Leaf")
            .map(|i| i.id()),
        Some(scoped.id())
    );
    assert!(
        schema.interface_by_name("Leaf").is_none(),
        "ambiguous short name"
    );
    assert!(schema.interface_by_name("Nothing").is_none());
    assert!(schema.interface_by_name("Echo").is_some());
}

#[test]
fn field_paths_hop_pointers_but_not_groups() {
    let schema = compiled();
    let all = id_of(&schema, "All");
    let path = |p: &[&str]| {
        let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
        schema.field_path(all, &p)
    };
    let cap = path(&["cap"]).expect("cap");
    assert_eq!(cap.ty, FieldType::Interface(id_of(&schema, "Echo")));
    assert_eq!(cap.pointers.len(), 1);
    let label = path(&["shape", "square", "label"]).expect("label");
    assert_eq!(label.ty, FieldType::Text);
    assert_eq!(label.pointers.len(), 1, "groups are inline");
    let n = path(&["inner", "next", "n"]).expect("n");
    assert_eq!((n.ty, n.pointers.len()), (FieldType::Int(32), 2));
    let error = path(&["structs", "n"]).expect_err("into a list");
    assert_eq!(error.to_string(), "`structs`: cannot take `n` of a list");
    let error = path(&["inner", "nope"]).expect_err("unknown field");
    assert_eq!(
        error.to_string(),
        "`inner`: no field `nope` in test.capnp:Inner"
    );
}

#[test]
fn defaults_are_loaded() {
    use super::{DefaultValue, FieldKind};
    let schema = compiled();
    let defaults = schema
        .structure(id_of(&schema, "Defaults"))
        .expect("Defaults");
    let default = |name: &str| match &defaults.field(name).expect("field").kind {
        FieldKind::Slot { default, .. } => default.clone(),
        FieldKind::Group(_) => panic!("{name} is a group"),
    };
    assert_eq!(default("five"), DefaultValue::Bits(5));
    assert_eq!(default("flag"), DefaultValue::Bits(1));
    assert_eq!(default("big"), DefaultValue::Bits(-3i64 as u64));
    assert_eq!(default("name"), DefaultValue::Text("anon".into()));
    assert_eq!(default("blob"), DefaultValue::Data(vec![1, 2]));
    assert!(matches!(default("list"), DefaultValue::Pointer(_)));
    assert!(matches!(default("inner"), DefaultValue::Pointer(_)));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(Schema::from_request_bytes(&[]).is_err());
    assert!(Schema::from_request_bytes(&[0xff; 64]).is_err());
}

#[test]
fn slots_outside_their_struct_are_refused() {
    use capnp::schema_capnp::{code_generator_request, field, node};
    // capnp's builders write at a slot's offset unchecked: a request placing a field beyond its
    // struct must not load.
    for (field_name, offset) in [("n", 2), ("next", 1)] {
        let mut request = windlass_schema::SchemaCompiler::new()
            .compile_source("test.capnp", include_str!("test.capnp"))
            .expect("test.capnp compiles");
        {
            let root = request
                .get_root::<code_generator_request::Builder<'_>>()
                .expect("root");
            let mut nodes = root.get_nodes().expect("nodes");
            for i in 0..nodes.len() {
                let n = nodes.reborrow().get(i);
                let name = n.reborrow_as_reader().get_display_name().expect("name");
                if name.to_str() != Ok("test.capnp:Inner") {
                    continue;
                }
                let node::Which::Struct(s) = n.which().expect("node") else {
                    panic!("Inner is a struct");
                };
                let mut fields = s.get_fields().expect("fields");
                for j in 0..fields.len() {
                    let f = fields.reborrow().get(j);
                    let this =
                        f.reborrow_as_reader().get_name().expect("name").to_str() == Ok(field_name);
                    if let (true, field::Which::Slot(mut slot)) = (this, f.which().expect("field"))
                    {
                        slot.set_offset(offset);
                    }
                }
            }
        }
        let bytes = capnp::serialize::write_message_to_words(&request);
        let error = Schema::from_request_bytes(&bytes).expect_err("out of its struct");
        assert!(
            error
                .to_string()
                .contains(&format!("field `{field_name}` is beyond")),
            "{error}"
        );
    }
}
