//! Regenerates the development certificates in `certs/` (or the directory given).
//!
//! ```text
//! cargo run --example gen_certs            # writes certs/
//! cargo run --example gen_certs -- /tmp/x  # writes elsewhere
//! ```
//!
//! Writes `ca.crt`, `server.crt` + `server.key` (valid for localhost, 127.0.0.1 and ::1, signed by
//! the CA) and `client.crt` + `client.key` (signed by the CA), valid 2025-2125. These are for tests
//! and demos only: the private keys are public.

#[path = "../tests/common/certgen.rs"]
mod certgen;

use std::fs;
use std::path::PathBuf;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "certs".into()));
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
