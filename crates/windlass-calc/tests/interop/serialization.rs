//! Address books across implementations: written by pycapnp and read by windlass, and the other
//! way round, in every serialized form (framed, packed, several messages in one file, raw
//! segments), with multi-segment messages, compared field by field.
//!
//! `tests/interop/addressbook.py` documents the directory layout both sides use. The books are
//! chosen here and handed to Python as `spec.json`, so one source says what every file must hold.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use capnp::message::{self, HeapAllocator, ReaderOptions};
use capnp::{serialize, serialize_packed};
use windlass_addressbook::{
    self as addressbook, AddressBook, Employment, Person, Phone, PhoneKind,
};

use crate::harness::{python, python_script, run};

/// The books of every test: the classic sample, an empty book, every union member and phone kind,
/// text beyond ASCII, and a book big enough to need several segments with default allocation.
pub(crate) fn books() -> Vec<AddressBook> {
    let phone = |number: &str, kind| Phone {
        number: number.to_owned(),
        kind,
    };
    let odd = AddressBook {
        people: vec![
            Person {
                id: u32::MAX,
                name: "Zoë Ångström 李小龙 🦀".to_owned(),
                email: "quote\"back\\slash\nnew\tline\u{1}@example.com".to_owned(),
                phones: vec![
                    phone("+44 20 7946 0958", PhoneKind::Work),
                    phone("", PhoneKind::Mobile),
                ],
                employment: Employment::Employer("Ferris & Co — ünïcödé".to_owned()),
            },
            Person {
                id: 0,
                name: String::new(),
                email: String::new(),
                phones: Vec::new(),
                employment: Employment::School(String::new()),
            },
            Person {
                id: 7,
                name: "x".repeat(5000),
                email: "long@example.com".to_owned(),
                phones: (0..50)
                    .map(|i| phone(&format!("555-{i:04}"), PhoneKind::Home))
                    .collect(),
                employment: Employment::SelfEmployed,
            },
        ],
    };
    vec![
        AddressBook::sample(),
        AddressBook::default(),
        AddressBook::generated(13),
        odd,
        AddressBook::generated(600),
    ]
}

/// The index of the book in [`books`] that spills into several segments even with the default
/// first segment (1024 words) of both implementations.
const LARGE: usize = 4;

/// A fresh scratch directory for one test.
pub(crate) fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("interop-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

fn file_name(n: usize) -> String {
    format!("{n:03}.bin")
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("create directory");
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn read_file(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Limits generous enough for every test book, so a failure is about the format, not the size.
pub(crate) fn options() -> ReaderOptions {
    *ReaderOptions::new().traversal_limit_in_words(Some(1 << 26))
}

/// The number of segments of a message in standard framing: the first word of its table + 1.
fn framed_segments(bytes: &[u8]) -> u32 {
    let first: [u8; 4] = bytes[..4].try_into().expect("a framed message has a table");
    u32::from_le_bytes(first) + 1
}

/// Asserts `got == expected` person by person, so a failure names the first person that differs.
pub(crate) fn assert_same(what: &str, got: &AddressBook, expected: &AddressBook) {
    for (i, (g, e)) in got.people.iter().zip(&expected.people).enumerate() {
        assert_eq!(g, e, "{what}: person {i} differs");
    }
    assert_eq!(
        got.people.len(),
        expected.people.len(),
        "{what}: number of people"
    );
}

// ---- spec.json: the books as JSON, for Python ----------------------------------------------

pub(crate) fn spec_json(books: &[AddressBook]) -> String {
    let mut out = String::from("[\n");
    for (b, book) in books.iter().enumerate() {
        out.push_str(if b == 0 { "" } else { ",\n" });
        out.push_str("{\"people\": [");
        for (p, person) in book.people.iter().enumerate() {
            out.push_str(if p == 0 { "\n" } else { ",\n" });
            person_json(&mut out, person);
        }
        out.push_str("]}");
    }
    out.push_str("\n]\n");
    out
}

fn person_json(out: &mut String, person: &Person) {
    let phones: Vec<String> = person
        .phones
        .iter()
        .map(|phone| {
            let kind = match phone.kind {
                PhoneKind::Mobile => "mobile",
                PhoneKind::Home => "home",
                PhoneKind::Work => "work",
            };
            format!(
                "{{\"number\": {}, \"type\": \"{kind}\"}}",
                json_string(&phone.number)
            )
        })
        .collect();
    let employment = match &person.employment {
        Employment::Unemployed => "{\"which\": \"unemployed\"}".to_owned(),
        Employment::SelfEmployed => "{\"which\": \"selfEmployed\"}".to_owned(),
        Employment::Employer(text) => {
            format!(
                "{{\"which\": \"employer\", \"text\": {}}}",
                json_string(text)
            )
        }
        Employment::School(text) => {
            format!("{{\"which\": \"school\", \"text\": {}}}", json_string(text))
        }
    };
    let _ = write!(
        out,
        "  {{\"id\": {}, \"name\": {}, \"email\": {}, \"phones\": [{}], \"employment\": {}}}",
        person.id,
        json_string(&person.name),
        json_string(&person.email),
        phones.join(", "),
        employment
    );
}

/// `text` as a JSON string: quotes, backslashes and control characters escaped, the rest as is
/// (JSON text is UTF-8).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---- the tests -------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn address_books_written_by_pycapnp_read_by_windlass() {
    let python = python("pycapnp writes address books, windlass reads them");
    let dir = scratch("pycapnp-writes");
    let books = books();
    write_file(&dir.join("spec.json"), spec_json(&books).as_bytes());
    run(
        "addressbook.py write",
        python_script(&python, "addressbook.py")
            .arg("write")
            .arg(&dir),
    )
    .success();

    for (n, book) in books.iter().enumerate() {
        let name = file_name(n);
        let framed = read_file(&dir.join("bytes").join(&name));
        let got = addressbook::from_bytes(&framed, options()).expect("read to_bytes()");
        assert_same(&format!("bytes/{name}"), &got, book);

        let packed = read_file(&dir.join("packed").join(&name));
        let got = addressbook::from_packed_bytes(&packed, options()).expect("read packed");
        assert_same(&format!("packed/{name}"), &got, book);

        let split = read_file(&dir.join("split").join(&name));
        let got = addressbook::from_bytes(&split, options()).expect("read split");
        assert_same(&format!("split/{name}"), &got, book);

        let split_packed = read_file(&dir.join("split-packed").join(&name));
        let got = addressbook::from_packed_bytes(&split_packed, options()).expect("read");
        assert_same(&format!("split-packed/{name}"), &got, book);

        let segments = read_segments(&dir.join("segments").join(format!("{n:03}")));
        let got = addressbook::from_segments(&segments, options()).expect("read segments");
        assert_same(&format!("segments/{n:03}"), &got, book);

        // A one-word first segment holds only the root pointer: anything more spills over.
        if !book.people.is_empty() {
            assert!(framed_segments(&split) > 1, "split/{name} is one segment");
            assert!(segments.len() > 1, "segments/{n:03} is one segment");
            assert_eq!(framed_segments(&split), count(segments.len()));
        }
    }
    let large = read_file(&dir.join("bytes").join(file_name(LARGE)));
    assert!(
        framed_segments(&large) > 1,
        "the large book fits one segment"
    );

    let many = read_file(&dir.join("many.bin"));
    let got = addressbook::read_many(many.as_slice(), options()).expect("read many.bin");
    assert_eq!(got.len(), books.len(), "messages in many.bin");
    for (n, (got, book)) in got.iter().zip(&books).enumerate() {
        assert_same(&format!("many.bin message {n}"), got, book);
    }
    let got = read_many_packed(&read_file(&dir.join("many.packed")));
    assert_eq!(got.len(), books.len(), "messages in many.packed");
    for (n, (got, book)) in got.iter().zip(&books).enumerate() {
        assert_same(&format!("many.packed message {n}"), got, book);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn address_books_written_by_windlass_read_by_pycapnp() {
    let python = python("windlass writes address books, pycapnp reads them");
    let dir = scratch("windlass-writes");
    let books = books();
    write_file(&dir.join("spec.json"), spec_json(&books).as_bytes());
    for (n, book) in books.iter().enumerate() {
        let name = file_name(n);
        let framed = addressbook::to_bytes(book);
        if n == LARGE {
            assert!(
                framed_segments(&framed) > 1,
                "the large book fits one segment"
            );
        }
        write_file(&dir.join("bytes").join(&name), &framed);
        write_file(
            &dir.join("packed").join(&name),
            &addressbook::to_packed_bytes(book),
        );
        let split = split_message(book);
        let mut framed = Vec::new();
        serialize::write_message(&mut framed, &split).expect("write to a Vec");
        let mut packed = Vec::new();
        serialize_packed::write_message(&mut packed, &split).expect("write to a Vec");
        write_file(&dir.join("split").join(&name), &framed);
        write_file(&dir.join("split-packed").join(&name), &packed);
        let segments = addressbook::to_segments(book, 1);
        if !book.people.is_empty() {
            assert!(segments.len() > 1, "book {n} fits one segment");
        }
        for (s, segment) in segments.iter().enumerate() {
            let path = dir.join("segments").join(format!("{n:03}/{s:03}.seg"));
            write_file(&path, segment);
        }
    }
    let mut many = Vec::new();
    addressbook::write_many(&mut many, &books).expect("write_many to a Vec");
    write_file(&dir.join("many.bin"), &many);
    let mut many_packed = Vec::new();
    for book in &books {
        let packed = addressbook::to_packed_bytes(book);
        many_packed.extend_from_slice(&packed);
    }
    write_file(&dir.join("many.packed"), &many_packed);

    let out = run(
        "addressbook.py check",
        python_script(&python, "addressbook.py")
            .arg("check")
            .arg(&dir),
    );
    let stdout = out.success();
    // Five forms per book, plus the two files holding every book.
    let expected = books.len() * 5 + 2;
    assert_eq!(stdout.matches("PASS ").count(), expected, "{out}");
    assert!(stdout.contains("0 failure(s)"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The book as a message whose first segment is one word, so everything but the root pointer
/// lives in later segments.
pub(crate) fn split_message(book: &AddressBook) -> message::Builder<HeapAllocator> {
    let mut message = message::Builder::new(HeapAllocator::new().first_segment_words(1));
    book.build(&mut message);
    message
}

/// `DIR/*.seg` in name order.
fn read_segments(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files.iter().map(|f| read_file(f)).collect()
}

/// Packed messages back to back until the input ends (the library has no packed `read_many`).
fn read_many_packed(mut input: &[u8]) -> Vec<AddressBook> {
    let mut books = Vec::new();
    while let Some(message) =
        serialize_packed::try_read_message(&mut input, options()).expect("read a packed message")
    {
        books.push(AddressBook::from_message(&message).expect("an address book"));
    }
    books
}

fn count(n: usize) -> u32 {
    u32::try_from(n).expect("few segments")
}
