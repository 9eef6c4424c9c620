//! Decides at build time whether the capnweb client tests run: `cfg(capnweb_js)` when
//! `WINDLASS_CAPNWEB_JS` names a `node_modules` directory with `capnweb` installed (`npm ci` in
//! `tests/js`); `cfg(capnweb_py)` when `WINDLASS_CAPNWEB_PY` names a Python interpreter that can
//! import py-capnweb (`pip install -r tests/py/requirements.txt`). Without them they are built
//! `#[ignore]`d with the reason, so `cargo test` reports them as ignored rather than as passed.

use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(capnweb_js)");
    println!("cargo::rustc-check-cfg=cfg(capnweb_py)");
    println!("cargo::rerun-if-env-changed=WINDLASS_CAPNWEB_JS");
    println!("cargo::rerun-if-env-changed=WINDLASS_CAPNWEB_PY");
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
    if let Some(python) = std::env::var_os("WINDLASS_CAPNWEB_PY").filter(|p| !p.is_empty()) {
        // py-capnweb's import name is `capnweb`; the check runs the interpreter the tests will.
        let imports = Command::new(&python)
            .args(["-c", "import capnweb.client"])
            .status()
            .is_ok_and(|s| s.success());
        if imports {
            println!("cargo::rustc-cfg=capnweb_py");
        } else {
            println!(
                "cargo::warning=WINDLASS_CAPNWEB_PY cannot import capnweb (py-capnweb); capnweb_py tests ignored"
            );
        }
    }
}
