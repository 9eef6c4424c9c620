//! Decides at build time whether the interop tests run: `cfg(interop)` when `WINDLASS_PYTHON`
//! names the Python to run their pycapnp peers with. Without it they are built `#[ignore]`d with
//! the reason, so `cargo test` reports them as ignored rather than as passed (docs/interop.md).

fn main() {
    // The Cap'n Web tests (tests/web.rs) likewise: `cfg(capnweb_js)` when `WINDLASS_CAPNWEB_JS`
    // names a node_modules directory holding capnweb (`npm ci` in crates/windlass-web/tests/js).
    println!("cargo::rustc-check-cfg=cfg(capnweb_js)");
    println!("cargo::rerun-if-env-changed=WINDLASS_CAPNWEB_JS");
    if let Some(dir) = std::env::var_os("WINDLASS_CAPNWEB_JS").filter(|d| !d.is_empty()) {
        if std::path::Path::new(&dir)
            .join("capnweb/dist/index.js")
            .is_file()
        {
            println!("cargo::rustc-cfg=capnweb_js");
        } else {
            println!("cargo::warning=WINDLASS_CAPNWEB_JS has no capnweb/dist/index.js; web tests ignored");
        }
    }
    // The tests in front of a C++ Calculator server (tests/web_cpp.rs): `cfg(cxx_calc)` when
    // `WINDLASS_CXX_CALC` is set, a promise that g++, capnp and libcapnp-dev (pkg-config
    // `capnp-rpc`) are installed, since the tests build that server with them.
    println!("cargo::rustc-check-cfg=cfg(cxx_calc)");
    println!("cargo::rerun-if-env-changed=WINDLASS_CXX_CALC");
    if std::env::var_os("WINDLASS_CXX_CALC").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=cxx_calc");
    }
    println!("cargo::rustc-check-cfg=cfg(interop)");
    println!("cargo::rerun-if-env-changed=WINDLASS_PYTHON");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("WINDLASS_PYTHON").is_some_and(|p| !p.is_empty()) {
        println!("cargo::rustc-cfg=interop");
    }
}
