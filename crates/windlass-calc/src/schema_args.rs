//! `windlass-calc schema compile`: the pure-Rust schema compiler (windlass-schema) as a
//! drop-in for `capnp compile -o-`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

/// Cap'n Proto schema tools that need no C++ `capnp` tool.
#[derive(Args)]
pub(crate) struct Schema {
    #[command(subcommand)]
    command: SchemaCommand,
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Compile schemas and write the CodeGeneratorRequest to stdout (standard framing), as
    /// `capnp compile -o- FILE...` does; errors go to stderr and the exit status is 1.
    ///
    /// Pipe the output to a code generator plugin, e.g. capnpc-rust, or decode it with
    /// `capnp decode /usr/include/capnp/schema.capnp CodeGeneratorRequest`.
    Compile {
        /// A directory searched by `import "/..."` (repeatable), before /usr/local/include and
        /// /usr/include.
        #[arg(short = 'I', long = "import-path", value_name = "DIR")]
        import_paths: Vec<PathBuf>,
        /// A prefix removed from the file names recorded in the request (repeatable).
        #[arg(long, value_name = "DIR")]
        src_prefix: Vec<PathBuf>,
        /// Do not search /usr/local/include and /usr/include.
        #[arg(long)]
        no_standard_import: bool,
        /// The schema files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

/// Runs a `schema` subcommand.
pub(crate) fn run(args: Schema) -> ExitCode {
    match args.command {
        SchemaCommand::Compile {
            import_paths,
            src_prefix,
            no_standard_import,
            files,
        } => {
            let mut compiler = windlass_schema::SchemaCompiler::new();
            compiler.standard_import_paths(!no_standard_import);
            for dir in &import_paths {
                compiler.import_path(dir);
            }
            for dir in &src_prefix {
                compiler.src_prefix(dir);
            }
            for file in &files {
                compiler.file(file);
            }
            match compiler.compile_to_bytes() {
                Ok(bytes) => {
                    let mut out = std::io::stdout().lock();
                    if let Err(e) = out.write_all(&bytes).and_then(|()| out.flush()) {
                        eprintln!("error: writing the request: {e}");
                        return ExitCode::FAILURE;
                    }
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
