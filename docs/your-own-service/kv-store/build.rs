// ANCHOR: build
// build.rs: compiles schemas/kv.capnp into OUT_DIR/kv_capnp.rs.
fn main() {
    windlass_build::compile(&["schemas/kv.capnp"]);
}
// ANCHOR_END: build
