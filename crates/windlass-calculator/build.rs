//! Compiles `schemas/calculator.capnp` with `windlass-build`, as a service author's build.rs
//! would: the Cap'n Proto tool when it runs, else the pure-Rust front end, else the checked-in
//! copy under `src/generated/` (refreshed by the workspace's `scripts/regen-schemas.sh`).

fn main() {
    windlass_build::Config::new()
        .file("schemas/calculator.capnp")
        .checked_in("src/generated")
        .run_or_exit();
}
