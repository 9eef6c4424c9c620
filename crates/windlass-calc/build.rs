//! Decides at build time whether the interop tests run: `cfg(interop)` when `WINDLASS_PYTHON`
//! names the Python to run their pycapnp peers with. Without it they are built `#[ignore]`d with
//! the reason, so `cargo test` reports them as ignored rather than as passed (docs/interop.md).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(interop)");
    println!("cargo::rerun-if-env-changed=WINDLASS_PYTHON");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("WINDLASS_PYTHON").is_some_and(|p| !p.is_empty()) {
        println!("cargo::rustc-cfg=interop");
    }
}
