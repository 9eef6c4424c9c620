//! `compile [-I DIR]... [--src-prefix DIR] FILE...`: writes the CodeGeneratorRequest to stdout,
//! like `capnp compile -o-` (the same thing `windlass-calc schema compile` does, without the
//! rest of windlass).

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut c = windlass_schema::SchemaCompiler::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-I" | "--src-prefix" => {
                let Some(v) = args.next() else {
                    eprintln!("{a} needs a directory");
                    return ExitCode::from(2);
                };
                if a == "-I" {
                    c.import_path(v);
                } else {
                    c.src_prefix(v);
                }
            }
            s if s.starts_with("-I") => {
                c.import_path(&s[2..]);
            }
            s if s.starts_with("--src-prefix=") => {
                c.src_prefix(&s["--src-prefix=".len()..]);
            }
            _ => {
                c.file(a);
            }
        }
    }
    match c.compile_to_bytes() {
        Ok(bytes) => {
            if std::io::stdout().write_all(&bytes).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
