// build.rs as a user writes it: compiles schemas/features.capnp into OUT_DIR/features_capnp.rs,
// with the capnp tool if it runs, else with the pure-Rust front end.
fn main() {
    windlass_build::compile(&["schemas/features.capnp"]);
}
