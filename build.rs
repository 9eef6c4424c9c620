//! Compiles `schemas/shared.capnp` (the private in-process bridge behind `Shared`) with
//! `windlass-build`, the helper a service author's own `build.rs` uses too. Nothing else: the
//! Calculator and the examples' schemas are compiled by their own packages, so a service that
//! depends on windlass builds only what the library uses.
//!
//! The front ends, in order: the Cap'n Proto tool (`capnp`, or the path in `WINDLASS_CAPNP`),
//! else the pure-Rust schema compiler (windlass-schema), else the checked-in output under
//! `src/generated/`, provided the fingerprints beside it (`src/generated/schemas.sha256`) still
//! match the schema; a cargo warning says which was used when it was not the tool.
//! `scripts/regen-schemas.sh` refreshes the copies (`WINDLASS_REGEN_DIR`) and checks them in CI.

fn main() {
    windlass_build::Config::new()
        .file("schemas/shared.capnp")
        .parent_module(&["schemas"])
        .checked_in("src/generated")
        .run_or_exit();
}
