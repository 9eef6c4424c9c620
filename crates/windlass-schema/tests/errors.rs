//! Error cases: each `tests/errors/NAME.capnp` must fail to compile, with the message in
//! `NAME.expected` (a substring of the `file:line:column: error: ...` output), and never panic.

use std::path::Path;

#[test]
fn every_error_case_reports_the_expected_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/errors");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/errors")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "capnp") {
            continue;
        }
        let expected =
            std::fs::read_to_string(path.with_extension("expected")).expect("expected file");
        let expected = expected.trim_end();
        let result = windlass_schema::SchemaCompiler::new()
            .src_prefix(&dir)
            .file(&path)
            .compile_to_bytes();
        match result {
            Ok(_) => failures.push(format!("{}: compiled, expected an error", path.display())),
            Err(e) => {
                let text = e.to_string();
                if !text.contains(expected) {
                    failures.push(format!(
                        "{}:\n  expected: {expected}\n  got:\n{text}",
                        path.display()
                    ));
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} error cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let dir = std::env::temp_dir().join(format!("windlass-schema-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let samples: [&[u8]; 6] = [
        b"\xff\xfe\x00",
        b"@0xffffffffffffffff; struct S { a @0 :List(List(List(S))) = [[[(a = [])]]]; }",
        b"@0x8000000000000000; const a :Int32 = (((((((1)))))));",
        b"@0x8000000000000001; struct S(T) { x @0 :T = 5; } struct U { s @0 :S(S(S(Text))); }",
        b"@0x8000000000000002; interface I { m @0 [T] (a :T) -> (b :List(T)); }",
        b"((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((",
    ];
    for (i, s) in samples.iter().enumerate() {
        let f = dir.join(format!("g{i}.capnp"));
        std::fs::write(&f, s).expect("write");
        let _ = windlass_schema::SchemaCompiler::new()
            .src_prefix(&dir)
            .file(&f)
            .compile_to_bytes();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
