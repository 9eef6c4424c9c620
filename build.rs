//! Compiles `schemas/calculator.capnp` (the reference service) and `schemas/shared.capnp` (the
//! in-process bridge behind `Shared`) with `windlass-build`, the helper a service author's own
//! `build.rs` uses too.
//!
//! With the Cap'n Proto tool (`capnp`, or the path in `WINDLASS_CAPNP`) the schema is compiled
//! fresh into `OUT_DIR`. Without it, as on a machine with only the Rust toolchain, the checked-in
//! output under `src/generated/` is used instead, provided the fingerprints beside it
//! (`src/generated/schemas.sha256`) still match the schema, and a cargo warning says so.
//! The chat room example's schema is compiled the same way, into its own checked-in directory.
//! `scripts/regen-schemas.sh` refreshes the copies (`WINDLASS_REGEN_DIR`) and checks it in CI.

fn main() {
    windlass_build::Config::new()
        .file("schemas/calculator.capnp")
        .file("schemas/shared.capnp")
        .parent_module(&["schemas"])
        .checked_in("src/generated")
        .run_or_exit();
    // The chat room example's own schema, compiled the way a service author's build.rs would;
    // the library does not include it (only `examples/chat_room` does).
    windlass_build::Config::new()
        .file("examples/chat_room/chat_room.capnp")
        .checked_in("examples/chat_room/generated")
        .run_or_exit();
}
