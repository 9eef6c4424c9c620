//! Compiles `schemas/addressbook.capnp` with `windlass-build`: with the `capnp` tool when it runs,
//! else from the checked-in copy in `src/generated/` (refreshed by `scripts/regen-schemas.sh`).

fn main() {
    windlass_build::Config::new()
        .file("schemas/addressbook.capnp")
        .checked_in("src/generated")
        .run_or_exit();
}
