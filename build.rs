//! Compiles `schemas/calculator.capnp` (the reference service) and `schemas/shared.capnp` (the
//! in-process bridge behind `Shared`) with `windlass-build`, the helper a service author's own
//! `build.rs` uses too.
//!
//! With the Cap'n Proto tool (`capnp`, or the path in `WINDLASS_CAPNP`) the schema is compiled
//! fresh into `OUT_DIR`. Without it, as on a machine with only the Rust toolchain, the checked-in
//! output under `src/generated/` is used instead, provided the fingerprints beside it
//! (`src/generated/schemas.sha256`) still match the schema, and a cargo warning says so.
//! `scripts/regen-schemas.sh` refreshes that copy (`WINDLASS_REGEN_DIR`) and checks it in CI.

fn main() {
    windlass_build::Config::new()
        .file("schemas/calculator.capnp")
        .file("schemas/shared.capnp")
        .parent_module(&["schemas"])
        .checked_in("src/generated")
        .run_or_exit();
}
