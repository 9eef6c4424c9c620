//! Decides at build time whether the capnweb client tests run: `cfg(capnweb_js)` when
//! `WINDLASS_CAPNWEB_JS` names a `node_modules` directory with `capnweb` installed (`npm ci` in
//! `tests/js`). Without it they are built `#[ignore]`d with the reason, so `cargo test` reports
//! them as ignored rather than as passed.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(capnweb_js)");
    println!("cargo::rerun-if-env-changed=WINDLASS_CAPNWEB_JS");
    println!("cargo::rerun-if-changed=build.rs");
    if let Some(dir) = std::env::var_os("WINDLASS_CAPNWEB_JS").filter(|d| !d.is_empty()) {
        let entry = std::path::Path::new(&dir).join("capnweb/dist/index.js");
        if entry.is_file() {
            println!("cargo::rustc-cfg=capnweb_js");
        } else {
            println!(
                "cargo::warning=WINDLASS_CAPNWEB_JS has no capnweb/dist/index.js; capnweb tests ignored"
            );
        }
    }
}
