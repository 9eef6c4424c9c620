//! Writes the sample address book in all four forms, reads each back and checks it is unchanged.
//!
//! ```text
//! cargo run --example addressbook [SCRATCH_FILE]
//! ```
//!
//! The plain, packed and several-messages forms go through `SCRATCH_FILE` (default: a file in the
//! system temp directory, removed afterwards); the segments form stays in memory. Exits non-zero
//! if any form reads back differently.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use capnp::message::ReaderOptions;
use windlass_addressbook::{self as addressbook, AddressBook};

/// A small first segment, so the segments form really has several segments.
const FIRST_SEGMENT_WORDS: u32 = 4;

fn main() -> Result<()> {
    let arg = std::env::args_os().nth(1).map(PathBuf::from);
    let path = arg.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("windlass-addressbook-{}.bin", std::process::id()))
    });
    let result = run(&path);
    if arg.is_none() {
        // Our own scratch file; it may not exist if the first write failed.
        let _ = fs::remove_file(&path);
    }
    result
}

fn run(path: &Path) -> Result<()> {
    let book = AddressBook::sample();
    let options = ReaderOptions::new();
    println!("scratch file: {}", path.display());

    write_file(path, &addressbook::to_bytes(&book))?;
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let plain = addressbook::from_bytes(&bytes, options).context("reading plain")?;
    check("plain", &book, &plain, &format!("{} bytes", bytes.len()))?;

    write_file(path, &addressbook::to_packed_bytes(&book))?;
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let packed = addressbook::from_packed_bytes(&bytes, options).context("reading packed")?;
    check("packed", &book, &packed, &format!("{} bytes", bytes.len()))?;

    let books = [book.clone(), AddressBook::generated(3), book.clone()];
    let mut out = BufWriter::new(create(path)?);
    addressbook::write_many(&mut out, &books).context("writing several messages")?;
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    drop(out);
    let input =
        BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    let many = addressbook::read_many(input, options).context("reading several messages")?;
    ensure!(
        many.len() == books.len(),
        "many: wrote {} messages, read {}",
        books.len(),
        many.len()
    );
    let size = fs::metadata(path)
        .with_context(|| format!("inspecting {}", path.display()))?
        .len();
    for (i, (wrote, read)) in books.iter().zip(&many).enumerate() {
        let detail = format!("message {} of {}, {size} bytes in all", i + 1, books.len());
        check(&format!("many[{i}]"), wrote, read, &detail)?;
    }

    let segments = addressbook::to_segments(&book, FIRST_SEGMENT_WORDS);
    let sizes: Vec<usize> = segments.iter().map(Vec::len).collect();
    let from_segments =
        addressbook::from_segments(&segments, options).context("reading segments")?;
    let detail = format!("{} segments of {sizes:?} bytes", segments.len());
    check("segments", &book, &from_segments, &detail)?;

    println!("all four forms round-trip");
    Ok(())
}

/// Prints one form's summary, or fails if `read` differs from what was written.
fn check(form: &str, wrote: &AddressBook, read: &AddressBook, detail: &str) -> Result<()> {
    let names: Vec<&str> = read.people.iter().map(|p| p.name.as_str()).collect();
    println!("{form:>9}: {detail}; people: {}", names.join(", "));
    ensure!(read == wrote, "{form}: read back {read:?}, wrote {wrote:?}");
    Ok(())
}

fn create(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("creating {}", path.display()))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = create(path)?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
