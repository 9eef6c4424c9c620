//! Generates a fresh set of development certificates into a directory.
//!
//! ```text
//! cargo run --example gen_certs                    # writes target/dev-certs/
//! cargo run --example gen_certs -- /tmp/x          # writes /tmp/x/
//! cargo run --example gen_certs -- certs --force   # replaces the checked-in certs/
//! ```
//!
//! Writes `ca.crt`, `server.crt` + `server.key` (valid for localhost, 127.0.0.1 and ::1, signed by
//! the CA) and `client.crt` + `client.key` (signed by the CA), valid 2025-2125. These are for tests
//! and demos only: the private keys are public.
//!
//! It never overwrites a certificate or key without `--force`, so running it as the README shows
//! leaves the checked-in `certs/` (which the demo embeds) alone.

#[path = "../tests/common/certgen.rs"]
mod certgen;

use std::fs;
use std::path::PathBuf;

use anyhow::Context;

/// Where certificates go without a directory argument: a scratch place under `target/`.
const DEFAULT_DIR: &str = "target/dev-certs";

const FILES: [&str; 5] = [
    "ca.crt",
    "server.crt",
    "server.key",
    "client.crt",
    "client.key",
];

fn main() -> anyhow::Result<()> {
    let mut dir = None;
    let mut force = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--force" => force = true,
            flag if flag.starts_with('-') => {
                anyhow::bail!("unknown option {flag}; usage: gen_certs [DIR] [--force]")
            }
            path if dir.is_none() => dir = Some(PathBuf::from(path)),
            extra => anyhow::bail!("unexpected argument {extra}; usage: gen_certs [DIR] [--force]"),
        }
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let existing: Vec<_> = FILES.iter().filter(|f| dir.join(f).exists()).collect();
    if !existing.is_empty() && !force {
        anyhow::bail!(
            "{} already holds {existing:?}; pass --force to replace them",
            dir.display()
        );
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let ca = certgen::Authority::new("windlass development CA", certgen::LONG)?;
    let server = ca.server(&["localhost", "127.0.0.1", "::1"], certgen::LONG)?;
    let client = ca.client("windlass development client", certgen::LONG)?;

    for (name, text) in [
        ("ca.crt", &ca.pem.cert),
        ("server.crt", &server.cert),
        ("server.key", &server.key),
        ("client.crt", &client.cert),
        ("client.key", &client.key),
    ] {
        let path = dir.join(name);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    // The CA's key is not written: nothing else should be signed with it.
    Ok(())
}
