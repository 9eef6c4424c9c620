//! Proof of identity against the C++ tool: for every schema of the corpus, the request we
//! produce equals `capnp compile -o-`'s (nodes and source infos compared by ID, as the C++ tool
//! emits them in hash-table order; `capnpVersion` ignored), and the Rust code capnpc generates
//! from both is byte-identical.
//!
//! Corpus: windlass's schemas, `/usr/include/capnp/*.capnp`, pycapnp's test schemas (the
//! directory in `WINDLASS_PYCAPNP_SCHEMAS`, which `.ci/run` fills) and `tests/corpus/`.
//! Without the tool the test is ignored (decided at build time), unless
//! `WINDLASS_REQUIRE_CAPNP=1`, which turns a missing tool into a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use capnp::message::ReaderOptions;
use capnp::schema_capnp::code_generator_request;

struct Case {
    file: PathBuf,
    prefix: PathBuf,
    imports: Vec<PathBuf>,
}

fn tool() -> String {
    std::env::var("WINDLASS_CAPNP").unwrap_or_else(|_| "capnp".into())
}

fn corpus() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = root.join("../..");
    let mut cases = vec![
        Case {
            file: repo.join("crates/windlass-calculator/schemas/calculator.capnp"),
            prefix: repo.join("crates/windlass-calculator/schemas"),
            imports: vec![],
        },
        Case {
            file: repo.join("crates/windlass-addressbook/schemas/addressbook.capnp"),
            prefix: repo.join("crates/windlass-addressbook/schemas"),
            imports: vec![],
        },
    ];
    let add_dir = |dir: &Path, prefix: &Path, imports: Vec<PathBuf>, cases: &mut Vec<Case>| {
        let mut files: Vec<PathBuf> = walk(dir);
        files.sort();
        for f in files {
            cases.push(Case {
                file: f,
                prefix: prefix.to_path_buf(),
                imports: imports.clone(),
            });
        }
    };
    let usr = Path::new("/usr/include/capnp");
    if usr.is_dir() {
        add_dir(usr, Path::new("/usr/include"), vec![], &mut cases);
    }
    if let Ok(dir) = std::env::var("WINDLASS_PYCAPNP_SCHEMAS") {
        let dir = PathBuf::from(dir);
        add_dir(&dir, &dir, vec![dir.join("test")], &mut cases);
    }
    let own = root.join("tests/corpus");
    add_dir(&own, &own, vec![own.clone()], &mut cases);
    cases
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else if p.extension().is_some_and(|x| x == "capnp") {
                out.push(p);
            }
        }
    }
    out
}

fn reference(case: &Case) -> Result<Vec<u8>, String> {
    let mut cmd = Command::new(tool());
    cmd.arg("compile")
        .arg("-o-")
        .arg("--src-prefix")
        .arg(&case.prefix);
    for i in &case.imports {
        cmd.arg("-I").arg(i);
    }
    let out = cmd.arg(&case.file).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(out.stdout)
}

fn ours(case: &Case) -> Result<Vec<u8>, String> {
    let mut c = windlass_schema::SchemaCompiler::new();
    c.src_prefix(&case.prefix).file(&case.file);
    for i in &case.imports {
        c.import_path(i);
    }
    c.compile_to_bytes().map_err(|e| e.to_string())
}

fn canonical<T: capnp::traits::SetterInput<U>, U: capnp::traits::Owned>(v: T) -> Vec<u8> {
    let mut m = capnp::message::Builder::new_default();
    m.set_root_canonical(v).expect("canonical copy");
    m.get_segments_for_output()[0].to_vec()
}

/// The parts of a request that must be equal, order-normalized.
/// Canonical bytes of each node and source info (by ID) and of each requested file.
type Normalized = (Vec<(u64, Vec<u8>)>, Vec<(u64, Vec<u8>)>, Vec<Vec<u8>>);

fn normalized(bytes: &[u8]) -> Normalized {
    let msg = capnp::serialize::read_message(bytes, ReaderOptions::new()).expect("message");
    let req: code_generator_request::Reader<'_> = msg.get_root().expect("root");
    let mut nodes: Vec<(u64, Vec<u8>)> = req
        .get_nodes()
        .expect("nodes")
        .iter()
        .map(|n| (n.get_id(), canonical(n)))
        .collect();
    nodes.sort();
    let mut infos: Vec<(u64, Vec<u8>)> = req
        .get_source_info()
        .expect("source info")
        .iter()
        .map(|n| (n.get_id(), canonical(n)))
        .collect();
    infos.sort();
    let files = req
        .get_requested_files()
        .expect("files")
        .iter()
        .map(canonical)
        .collect();
    (nodes, infos, files)
}

/// The generated files, or capnpc's error (which must then be the same for both requests).
fn generate(bytes: &[u8], dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, String> {
    std::fs::create_dir_all(dir).expect("out dir");
    capnpc::codegen::CodeGenerationCommand::new()
        .output_directory(dir)
        .run(bytes)
        .map_err(|e| e.to_string())?;
    let mut out: Vec<(PathBuf, Vec<u8>)> = walk_all(dir)
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).expect("generated file");
            (p.strip_prefix(dir).expect("under dir").to_path_buf(), data)
        })
        .collect();
    out.sort();
    Ok(out)
}

fn walk_all(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_all(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
#[cfg_attr(
    not(capnp_tool),
    ignore = "the C++ capnp tool (the oracle) is not installed; set WINDLASS_REQUIRE_CAPNP=1 to make this a failure"
)]
fn generated_code_is_identical_to_the_cpp_tools() {
    if !cfg!(capnp_tool) {
        assert!(
            std::env::var("WINDLASS_REQUIRE_CAPNP").as_deref() != Ok("1"),
            "WINDLASS_REQUIRE_CAPNP=1 but the capnp tool does not run"
        );
    }
    let scratch =
        std::env::temp_dir().join(format!("windlass-schema-identity-{}", std::process::id()));
    let cases = corpus();
    let mut identical = 0;
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let name = case.file.display().to_string();
        let reference = match reference(case) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: the C++ tool failed: {e}"));
                continue;
            }
        };
        let ours = match ours(case) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{name}: we failed:\n{e}"));
                continue;
            }
        };
        let (rn, ri, rf) = normalized(&reference);
        let (on, oi, of) = normalized(&ours);
        if rn != on {
            let ids: Vec<String> = rn
                .iter()
                .filter(|x| !on.contains(x))
                .map(|(id, _)| format!("@0x{id:x}"))
                .collect();
            failures.push(format!(
                "{name}: nodes differ (reference nodes not matched: {ids:?})"
            ));
            continue;
        }
        if ri != oi {
            failures.push(format!("{name}: source info differs"));
            continue;
        }
        if rf != of {
            failures.push(format!("{name}: requested files differ"));
            continue;
        }
        // capnpc orders a generic method's type parameters by hash-set iteration, so for such
        // schemas its output varies from run to run even for one request: ours must then equal
        // one of several generations from the reference request.
        let b = generate(&ours, &scratch.join(format!("{i}/ours")));
        let mut same = false;
        for attempt in 0..32 {
            let a = generate(&reference, &scratch.join(format!("{i}/ref{attempt}")));
            if a == b {
                same = true;
                break;
            }
        }
        if !same {
            failures.push(format!("{name}: generated Rust code differs"));
            continue;
        }
        identical += 1;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!(
        "{identical} of {} corpus schemas byte-identical",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
