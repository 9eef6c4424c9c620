// ANCHOR: build
// build.rs: compiles schemas/kv.capnp into OUT_DIR/kv_capnp.rs.
fn main() {
    windlass_build::Config::new()
        .file("schemas/kv.capnp")
        // Used when the `capnp` tool is absent (refresh: WINDLASS_REGEN_DIR=$PWD cargo build).
        .checked_in("src/generated")
        .run_or_exit();
}
// ANCHOR_END: build
