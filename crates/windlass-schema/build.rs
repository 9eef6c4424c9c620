//! Decides at build time whether the C++ `capnp` tool (the oracle of the identity test) runs
//! here: if not, the test is compiled as `#[ignore]` with that reason.

fn main() {
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=WINDLASS_CAPNP");
    println!("cargo:rustc-check-cfg=cfg(capnp_tool)");
    let tool = std::env::var("WINDLASS_CAPNP").unwrap_or_else(|_| "capnp".into());
    let runs = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if runs {
        println!("cargo:rustc-cfg=capnp_tool");
    }
}
