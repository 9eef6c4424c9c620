//! The checked-in copy of generated code: used only while it matches the schemas it came from.
//!
//! Beside the generated files lies [`FINGERPRINTS`], one line per schema in `sha256sum`'s format
//! (`<hex digest>  <schema path>`), written when the copy is refreshed. A copy whose fingerprints
//! do not match the schema files being compiled is refused, so editing a schema on a machine
//! without the tool fails loudly instead of building stale code.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Error;

/// The fingerprints file in a checked-in directory.
pub const FINGERPRINTS: &str = "schemas.sha256";

/// Copies the checked-in `names` from `dir` to `out_dir` if the fingerprints match `schemas`;
/// otherwise says why not.
pub(crate) fn use_copy(
    dir: &Path,
    out_dir: &Path,
    names: &[PathBuf],
    schemas: &[PathBuf],
) -> Result<(), String> {
    let recorded_path = dir.join(FINGERPRINTS);
    let recorded = fs::read_to_string(&recorded_path)
        .map_err(|e| format!("cannot read {}: {e}", recorded_path.display()))?;
    for schema in schemas {
        let wanted = fingerprint(schema).map_err(|e| e.to_string())?;
        let key = schema.to_string_lossy();
        let found = recorded
            .lines()
            .find_map(|line| line.split_once("  ").filter(|(_, path)| *path == key));
        match found {
            Some((digest, _)) if digest == wanted => {}
            Some(_) => {
                return Err(format!(
                    "{} changed since the copy in {} was generated",
                    schema.display(),
                    dir.display()
                ))
            }
            None => {
                return Err(format!(
                    "{} has no fingerprint for {}",
                    recorded_path.display(),
                    schema.display()
                ))
            }
        }
    }
    fs::create_dir_all(out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    for name in names {
        let (src, dst) = (dir.join(name), out_dir.join(name));
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        fs::copy(&src, &dst).map_err(|e| format!("cannot copy {}: {e}", src.display()))?;
    }
    Ok(())
}

/// Writes the freshly generated `names` from `out_dir` to `dir`, with the fingerprints of
/// `schemas`.
pub(crate) fn refresh(
    out_dir: &Path,
    dir: &Path,
    names: &[PathBuf],
    schemas: &[PathBuf],
) -> Result<(), Error> {
    let io = |what: String| move |source| Error::Io { what, source };
    fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    for name in names {
        let (src, dst) = (out_dir.join(name), dir.join(name));
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent)
                .map_err(io(format!("cannot create {}", parent.display())))?;
        }
        fs::copy(&src, &dst).map_err(io(format!(
            "cannot copy {} to {}",
            src.display(),
            dst.display()
        )))?;
    }
    let mut lines = String::new();
    for schema in schemas {
        lines.push_str(&format!("{}  {}\n", fingerprint(schema)?, schema.display()));
    }
    let path = dir.join(FINGERPRINTS);
    fs::write(&path, lines).map_err(io(format!("cannot write {}", path.display())))
}

fn fingerprint(schema: &Path) -> Result<String, Error> {
    let bytes = fs::read(schema).map_err(|source| Error::Io {
        what: format!("cannot read {}", schema.display()),
        source,
    })?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wb-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn copy_is_used_only_while_the_schema_matches() {
        let root = scratch("match");
        let schema = root.join("kv.capnp");
        fs::write(&schema, "@0xd1b1ad2b2b6e3c01;\n").expect("write schema");
        let (generated, checked, out) = (root.join("gen"), root.join("checked"), root.join("out"));
        fs::create_dir_all(&generated).expect("gen dir");
        fs::write(generated.join("kv_capnp.rs"), "// code").expect("write code");
        let names = [PathBuf::from("kv_capnp.rs")];
        refresh(&generated, &checked, &names, std::slice::from_ref(&schema)).expect("refresh");

        use_copy(&checked, &out, &names, std::slice::from_ref(&schema))
            .expect("matching copy is used");
        assert_eq!(
            fs::read_to_string(out.join("kv_capnp.rs")).expect("copied"),
            "// code"
        );

        fs::write(&schema, "@0xd1b1ad2b2b6e3c01;\nstruct A {}\n").expect("edit schema");
        let why = use_copy(&checked, &out, &names, std::slice::from_ref(&schema))
            .expect_err("stale copy");
        assert!(why.contains("changed since"), "{why}");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn missing_fingerprints_are_named() {
        let root = scratch("missing");
        let why = use_copy(&root, &root.join("out"), &[], &[root.join("a.capnp")])
            .expect_err("no fingerprints file");
        assert!(why.contains(FINGERPRINTS), "{why}");
        let _ = fs::remove_dir_all(&root);
    }
}
