//! Compiles `schemas/*.capnp` into Rust.
//!
//! With the Cap'n Proto tool (`capnp`, or the path in `WINDLASS_CAPNP`) the schemas are compiled
//! fresh into `OUT_DIR`. Without it, as on a machine with only the Rust toolchain, the checked-in
//! output under `src/generated/` is copied there instead and a cargo warning says so. Either way
//! the crate includes the code from `OUT_DIR`, so both paths build the same modules.
//!
//! Environment:
//! - `WINDLASS_CAPNP`: the `capnp` tool to run (default: `capnp` on `PATH`).
//! - `WINDLASS_REQUIRE_CAPNP=1`: fail instead of falling back (CI sets it).
//! - `WINDLASS_REGEN_DIR=DIR`: also write the freshly generated files to `DIR`; this is how
//!   `scripts/regen-schemas.sh` refreshes `src/generated/` and checks that it is current.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The schemas compiled, and the module each becomes (`name.capnp` → `name_capnp.rs`).
const SCHEMAS: &[&str] = &["calculator", "addressbook"];
/// Where the generated modules live in the crate: `crate::schemas::calculator_capnp`.
const PARENT_MODULE: &str = "schemas";

fn main() {
    for var in [
        "WINDLASS_CAPNP",
        "WINDLASS_REQUIRE_CAPNP",
        "WINDLASS_REGEN_DIR",
        "PATH",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=schemas");
    println!("cargo:rerun-if-changed=src/generated");
    for name in SCHEMAS {
        println!("cargo:rerun-if-changed=schemas/{name}.capnp");
    }

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let tool = env::var_os("WINDLASS_CAPNP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("capnp"));

    if tool_works(&tool) {
        compile(&tool, &out_dir);
        if let Some(dir) = env::var_os("WINDLASS_REGEN_DIR") {
            copy_generated(&out_dir, Path::new(&dir));
        }
    } else if env::var("WINDLASS_REQUIRE_CAPNP").is_ok_and(|v| v == "1") {
        panic!(
            "WINDLASS_REQUIRE_CAPNP=1 but the Cap'n Proto tool `{}` does not run; install it \
             (Debian: apt-get install capnproto) or point WINDLASS_CAPNP at it",
            tool.display()
        );
    } else {
        println!(
            "cargo:warning=the Cap'n Proto tool `{}` was not found: using the checked-in \
             generated code in src/generated/ (install capnproto to compile schemas/ instead)",
            tool.display()
        );
        copy_generated(Path::new("src/generated"), &out_dir);
    }
}

fn tool_works(tool: &Path) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

fn compile(tool: &Path, out_dir: &Path) {
    let mut cmd = capnpc::CompilerCommand::new();
    cmd.capnp_executable(tool)
        .src_prefix("schemas")
        .output_path(out_dir)
        .default_parent_module(vec![PARENT_MODULE.to_string()]);
    for name in SCHEMAS {
        cmd.file(format!("schemas/{name}.capnp"));
    }
    if let Err(e) = cmd.run() {
        panic!("compiling schemas/ with `{}` failed: {e}", tool.display());
    }
}

fn copy_generated(from: &Path, to: &Path) {
    if let Err(e) = fs::create_dir_all(to) {
        panic!("cannot create {}: {e}", to.display());
    }
    for name in SCHEMAS {
        let file = format!("{name}_capnp.rs");
        let (src, dst) = (from.join(&file), to.join(&file));
        if let Err(e) = fs::copy(&src, &dst) {
            panic!("cannot copy {} to {}: {e}", src.display(), dst.display());
        }
    }
}
