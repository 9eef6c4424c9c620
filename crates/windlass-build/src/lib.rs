//! Compiles Cap'n Proto schemas in a `build.rs`, for services built on windlass.
//!
//! ```no_run
//! // build.rs
//! fn main() {
//!     windlass_build::compile(&["schemas/kv.capnp"]);
//! }
//! ```
//!
//! ```text
//! // src/lib.rs (or main.rs): the generated module, named after the file.
//! windlass::capnp::generated_code!(pub mod kv_capnp);
//! ```
//!
//! The generated code lands in `OUT_DIR` and is included from there. It is made by `capnpc`, the
//! Rust code generator every capnp-rust user runs, from a schema compiled by a *front end*:
//!
//! 1. the Cap'n Proto tool (`capnp`, or the path in `WINDLASS_CAPNP`), when it runs;
//! 2. otherwise the **pure-Rust front end** ([`windlass_schema`]), which parses the schemas
//!    itself and produces the same request as the tool (hence the same generated code);
//! 3. otherwise (it reported an error) a **checked-in copy** of the generated code
//!    ([`Config::checked_in`]), used only while the SHA-256 fingerprints recorded beside it
//!    match the schema files (so a changed schema is never silently built from stale code);
//! 4. otherwise the build fails with a message that says what to install, fix or check in.
//!
//! [`Config::front_end`] (or `WINDLASS_SCHEMA_FRONTEND=rust|tool`) chooses one front end
//! instead: `rust` always compiles in pure Rust, `tool` never does.
//!
//! The workspace crate `crates/windlass-build-check` is the proof of the pure-Rust path: a user
//! project whose `build.rs` is the one `compile` call above, on a schema with generics and
//! brands, unions, groups, annotations, defaults of every kind, constants and an interface with
//! a callback. CI builds it without the tool, serves it over sockets, and checks that the code
//! both front ends generate for it (and the code it was built with) is byte-identical.
//!
//! # Environment
//! - `WINDLASS_CAPNP`: the `capnp` tool to run (default: `capnp` on `PATH`).
//! - `WINDLASS_REQUIRE_CAPNP=1`: fail instead of falling back to a checked-in copy (for CI).
//! - `WINDLASS_SCHEMA_FRONTEND=rust`: always use the pure-Rust front end; `=tool`: never use
//!   it (the tool, then the checked-in copy, as before it existed).
//! - `WINDLASS_REGEN_DIR=DIR`: after compiling with the tool, also write the generated files and
//!   their fingerprints to `DIR/<checked-in dir>` (the [`Config::checked_in`] path, relative to
//!   the crate); `WINDLASS_REGEN_DIR=$PWD` refreshes the checked-in copies in place, a scratch
//!   directory lets a script compare them (`scripts/regen-schemas.sh` in windlass).
//! - `WINDLASS_REGEN_PACKAGE=NAME`: only the build script of package `NAME` refreshes (its
//!   dependencies' build scripts run too, and would otherwise write into the same directory).

#![forbid(unsafe_code)]
// The quick start shows a whole build.rs, `fn main` included, because that is what users copy.
#![allow(clippy::needless_doctest_main)]

mod checked_in;

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use checked_in::FINGERPRINTS;

/// Environment variable naming the `capnp` tool to run.
pub const CAPNP_ENV: &str = "WINDLASS_CAPNP";
/// Environment variable that, set to `1`, makes a missing `capnp` tool an error.
pub const REQUIRE_ENV: &str = "WINDLASS_REQUIRE_CAPNP";
/// Environment variable naming a directory to refresh with freshly generated code.
pub const REGEN_ENV: &str = "WINDLASS_REGEN_DIR";
/// Environment variable that limits [`REGEN_ENV`] to the build script of one package (by name),
/// so that refreshing a crate does not also write its dependencies' code into its directory.
pub const REGEN_PACKAGE_ENV: &str = "WINDLASS_REGEN_PACKAGE";
/// Environment variable choosing the front end: `rust` or `tool` (default: automatic).
pub const FRONTEND_ENV: &str = "WINDLASS_SCHEMA_FRONTEND";

/// The file, in the output directory, holding the serialized `CodeGeneratorRequest` the code was
/// generated from: every schema node (structs, interfaces with their methods, enums), for
/// run-time reflection such as windlass-web's mapping of any interface to Cap'n Web. Include it
/// with `include_bytes!(concat!(env!("OUT_DIR"), "/schema_request.bin"))`. Whichever front
/// end ran writes it (the tool's and the pure-Rust one's hold the same nodes, their source info
/// in another order); a checked-in copy carries it too.
pub const REQUEST_FILE: &str = "schema_request.bin";

/// Which front end [`Config::run`] may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FrontEndChoice {
    /// The tool if it runs, else pure Rust, else the checked-in copy.
    #[default]
    Auto,
    /// Always the pure-Rust front end ([`windlass_schema`]), even where the tool is installed.
    PureRust,
    /// Never the pure-Rust front end: the tool, else the checked-in copy.
    ToolOnly,
}

/// Compiles `files` into `OUT_DIR` with the default [`Config`], or ends the build script with a
/// message that says what went wrong and what to do.
///
/// Use [`Config`] for import paths, a source prefix, a parent module or a checked-in fallback.
pub fn compile<P: AsRef<Path>>(files: &[P]) {
    let mut config = Config::new();
    for file in files {
        config.file(file);
    }
    config.run_or_exit();
}

/// How the schemas were compiled, as [`Config::run`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frontend {
    /// The C++ Cap'n Proto tool at this path produced the code generator request.
    CapnpTool(PathBuf),
    /// The tool was absent: the checked-in copy in this directory matched the schemas and was
    /// copied to the output directory.
    CheckedIn(PathBuf),
    /// The pure-Rust front end ([`windlass_schema`]) compiled the schemas.
    PureRust,
}

/// Compiling schemas failed; the message says what to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `OUT_DIR` is not set: not running inside a build script and no [`Config::output_dir`].
    NoOutputDir,
    /// No schema files were given.
    NoFiles,
    /// The tool is absent and `WINDLASS_REQUIRE_CAPNP=1` forbids falling back.
    ToolRequired {
        /// The tool that did not run.
        tool: PathBuf,
    },
    /// The tool is absent and there is no usable checked-in copy.
    NoFrontend {
        /// The tool that did not run.
        tool: PathBuf,
        /// What the pure-Rust front end reported (`file:line:column: error: ...`, one per
        /// line), if it was tried: usually the real problem, a mistake in the schema.
        pure_rust: Option<String>,
        /// Why the checked-in copy could not be used, if one was configured.
        checked_in: Option<String>,
    },
    /// The pure-Rust front end was chosen ([`FrontEndChoice::PureRust`]) and reported errors.
    PureRust {
        /// Every error, `file:line:column: error: ...` one per line.
        message: String,
    },
    /// The tool ran and failed (a schema error, a missing import, ...).
    Compile {
        /// The tool that ran.
        tool: PathBuf,
        /// What the tool or the code generator said.
        message: String,
    },
    /// Reading or writing a file failed.
    Io {
        /// What was being done, naming the file.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoOutputDir => write!(
                f,
                "OUT_DIR is not set: call windlass_build from a build script, or set \
                 Config::output_dir"
            ),
            Error::NoFiles => write!(f, "no schema files given to compile"),
            Error::ToolRequired { tool } => write!(
                f,
                "{REQUIRE_ENV}=1 but the Cap'n Proto tool `{}` does not run; install it (Debian \
                 and Ubuntu: apt-get install capnproto; macOS: brew install capnp) or point \
                 {CAPNP_ENV} at it",
                tool.display()
            ),
            Error::NoFrontend {
                tool,
                pure_rust,
                checked_in,
            } => {
                write!(
                    f,
                    "cannot compile the schemas: the Cap'n Proto tool `{}` does not run",
                    tool.display()
                )?;
                // In the order the front ends were tried: the schema errors first, since they
                // are what the user most likely has to fix.
                if let Some(errors) = pure_rust {
                    write!(
                        f,
                        ", the pure-Rust schema compiler reported errors:\n{}\n",
                        errors.trim_end()
                    )?;
                }
                match checked_in {
                    Some(why) => write!(
                        f,
                        " and the checked-in generated code cannot be used: {why}"
                    )?,
                    None => write!(
                        f,
                        " and no checked-in copy of the generated code is configured"
                    )?,
                }
                write!(
                    f,
                    ".\nEither install the tool (Debian and Ubuntu: apt-get install capnproto; \
                     macOS: brew install capnp; or set {CAPNP_ENV}=/path/to/capnp), or generate \
                     the code once where the tool exists and check it in: \
                     Config::checked_in(\"src/generated\") plus {REGEN_ENV}=$PWD cargo build"
                )
            }
            Error::PureRust { message } => {
                write!(
                    f,
                    "the pure-Rust schema compiler reported errors:\n{message}"
                )
            }
            Error::Compile { tool, message } => write!(
                f,
                "compiling the schemas with `{}` failed: {message}",
                tool.display()
            ),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What to compile and how; [`Config::run`] does it.
///
/// Defaults: no import paths beyond the tool's own, source prefix = the directory of the first
/// file (so `schemas/kv.capnp` becomes `kv_capnp.rs`), generated modules at the crate root
/// (`crate::kv_capnp`), output to `OUT_DIR`, no checked-in fallback.
#[derive(Debug, Clone, Default)]
pub struct Config {
    files: Vec<PathBuf>,
    import_paths: Vec<PathBuf>,
    src_prefix: Option<PathBuf>,
    parent_module: Vec<String>,
    output_dir: Option<PathBuf>,
    checked_in: Option<PathBuf>,
    tool: Option<PathBuf>,
    require_tool: Option<bool>,
    front_end: Option<FrontEndChoice>,
}

impl Config {
    /// A configuration with the defaults above and no files.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a schema file to compile.
    pub fn file(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.files.push(path.as_ref().to_path_buf());
        self
    }

    /// Adds a directory searched by `import "/..."` (the tool's `-I`).
    pub fn import_path(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.import_paths.push(dir.as_ref().to_path_buf());
        self
    }

    /// The prefix removed from file names to name output files (the tool's `--src-prefix`).
    /// Default: the directory of the first file.
    pub fn src_prefix(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.src_prefix = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The module path the generated modules live under, e.g. `["schemas"]` when the crate
    /// includes them inside `mod schemas { ... }`. Default: the crate root.
    pub fn parent_module(&mut self, path: &[&str]) -> &mut Self {
        self.parent_module = path.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Where the generated files go. Default: `OUT_DIR`.
    pub fn output_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.output_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// A directory (relative to the crate) holding a checked-in copy of the generated code and
    /// its fingerprints file ([`FINGERPRINTS`]), used when the tool is absent. Refresh it by
    /// building once with the tool and `WINDLASS_REGEN_DIR=$PWD`.
    pub fn checked_in(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.checked_in = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The `capnp` tool to run. Default: `WINDLASS_CAPNP`, else `capnp` on `PATH`.
    pub fn capnp_tool(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.tool = Some(path.as_ref().to_path_buf());
        self
    }

    /// Whether a missing tool is an error instead of a reason to use the checked-in copy.
    /// Default: `WINDLASS_REQUIRE_CAPNP=1` in the environment.
    pub fn require_tool(&mut self, require: bool) -> &mut Self {
        self.require_tool = Some(require);
        self
    }

    /// Which front end to use. Default: `WINDLASS_SCHEMA_FRONTEND` (`rust` or `tool`), else
    /// [`FrontEndChoice::Auto`].
    pub fn front_end(&mut self, choice: FrontEndChoice) -> &mut Self {
        self.front_end = Some(choice);
        self
    }

    /// Compiles the schemas, printing the `cargo:` lines a build script needs (rerun triggers,
    /// and a warning when the checked-in copy is used).
    ///
    /// # Errors
    /// See [`Error`]: each variant's message says what to install, fix or check in.
    pub fn run(&self) -> Result<Frontend, Error> {
        if self.files.is_empty() {
            return Err(Error::NoFiles);
        }
        for var in [
            CAPNP_ENV,
            REQUIRE_ENV,
            REGEN_ENV,
            REGEN_PACKAGE_ENV,
            FRONTEND_ENV,
            "PATH",
        ] {
            println!("cargo:rerun-if-env-changed={var}");
        }
        for file in &self.files {
            println!("cargo:rerun-if-changed={}", file.display());
        }
        if let Some(dir) = &self.checked_in {
            println!("cargo:rerun-if-changed={}", dir.display());
        }
        let out_dir = match &self.output_dir {
            Some(dir) => dir.clone(),
            None => env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(Error::NoOutputDir)?,
        };
        let tool = self.tool.clone().unwrap_or_else(|| {
            env::var_os(CAPNP_ENV).map_or_else(|| PathBuf::from("capnp"), PathBuf::from)
        });

        let choice = self
            .front_end
            .unwrap_or_else(|| match env::var(FRONTEND_ENV).as_deref() {
                Ok("rust") => FrontEndChoice::PureRust,
                Ok("tool") => FrontEndChoice::ToolOnly,
                _ => FrontEndChoice::Auto,
            });
        if choice == FrontEndChoice::PureRust {
            self.compile_pure_rust(&out_dir)
                .map_err(|message| Error::PureRust { message })?;
            return Ok(Frontend::PureRust);
        }
        if tool_runs(&tool) {
            self.compile_with_tool(&tool, &out_dir)?;
            let this_package = env::var(REGEN_PACKAGE_ENV).map_or(true, |wanted| {
                env::var("CARGO_PKG_NAME").is_ok_and(|p| p == wanted)
            });
            let regen = env::var_os(REGEN_ENV).filter(|_| this_package);
            if let (Some(root), Some(dir)) = (regen, &self.checked_in) {
                let dir = PathBuf::from(root).join(dir);
                checked_in::refresh(&out_dir, &dir, &self.output_names(), &self.files)?;
            }
            return Ok(Frontend::CapnpTool(tool));
        }
        let require = self
            .require_tool
            .unwrap_or_else(|| env::var(REQUIRE_ENV).is_ok_and(|v| v == "1"));
        if require {
            return Err(Error::ToolRequired { tool });
        }
        let mut pure_rust_errors = None;
        if choice == FrontEndChoice::Auto {
            match self.compile_pure_rust(&out_dir) {
                Ok(()) => {
                    println!(
                        "cargo:warning=the Cap'n Proto tool `{}` was not found: compiled the \
                         schemas with the pure-Rust front end (windlass-schema)",
                        tool.display()
                    );
                    return Ok(Frontend::PureRust);
                }
                Err(message) => pure_rust_errors = Some(message),
            }
        }
        let Some(dir) = &self.checked_in else {
            if let Some(message) = pure_rust_errors {
                return Err(Error::PureRust { message });
            }
            return Err(Error::NoFrontend {
                tool,
                pure_rust: None,
                checked_in: None,
            });
        };
        match checked_in::use_copy(dir, &out_dir, &self.output_names(), &self.files) {
            Ok(()) => {
                // The copy matches the schemas, so the build goes on; the front end's errors
                // still reach the user, each with its file:line, before the note about the copy.
                if let Some(errors) = &pure_rust_errors {
                    println!(
                        "cargo:warning=the pure-Rust schema compiler reported errors (the \
                         checked-in copy is used instead):"
                    );
                    for line in errors.lines() {
                        println!("cargo:warning={line}");
                    }
                }
                println!(
                    "cargo:warning=the Cap'n Proto tool `{}` was not found: using the checked-in \
                     generated code in {} (it matches the schemas' fingerprints; install \
                     capnproto to compile them instead)",
                    tool.display(),
                    dir.display()
                );
                Ok(Frontend::CheckedIn(dir.clone()))
            }
            Err(why) => Err(Error::NoFrontend {
                tool,
                pure_rust: pure_rust_errors,
                checked_in: Some(why),
            }),
        }
    }

    /// [`Config::run`], ending the build script with the error's message on failure.
    pub fn run_or_exit(&self) -> Frontend {
        match self.run() {
            Ok(frontend) => frontend,
            Err(e) => {
                eprintln!("error: windlass-build: {e}");
                std::process::exit(1);
            }
        }
    }

    /// Compiles with windlass-schema and runs capnpc's generator on the request; the error is
    /// the located messages.
    fn compile_pure_rust(&self, out_dir: &Path) -> Result<(), String> {
        let mut compiler = windlass_schema::SchemaCompiler::new();
        if let Some(prefix) = self.prefix() {
            compiler.src_prefix(prefix);
        }
        for dir in &self.import_paths {
            compiler.import_path(dir);
        }
        for file in &self.files {
            compiler.file(file);
        }
        let request = compiler.compile_to_bytes().map_err(|e| e.to_string())?;
        let mut codegen = capnpc::codegen::CodeGenerationCommand::new();
        codegen.output_directory(out_dir);
        if !self.parent_module.is_empty() {
            codegen.default_parent_module(self.parent_module.clone());
        }
        codegen
            .run(&request[..])
            .map_err(|e| format!("code generation failed: {e}"))?;
        let path = out_dir.join(REQUEST_FILE);
        std::fs::write(&path, &request).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn compile_with_tool(&self, tool: &Path, out_dir: &Path) -> Result<(), Error> {
        let mut cmd = capnpc::CompilerCommand::new();
        cmd.capnp_executable(tool)
            .output_path(out_dir)
            .raw_code_generator_request_path(out_dir.join(REQUEST_FILE));
        if let Some(prefix) = self.prefix() {
            cmd.src_prefix(prefix);
        }
        for dir in &self.import_paths {
            cmd.import_path(dir);
        }
        if !self.parent_module.is_empty() {
            cmd.default_parent_module(self.parent_module.clone());
        }
        for file in &self.files {
            cmd.file(file);
        }
        cmd.run().map_err(|e| Error::Compile {
            tool: tool.to_path_buf(),
            message: e.to_string(),
        })
    }

    fn prefix(&self) -> Option<PathBuf> {
        self.src_prefix.clone().or_else(|| {
            self.files
                .first()
                .and_then(|f| f.parent())
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
        })
    }

    /// The output file of each schema: `dir/name.capnp` → `name_capnp.rs` (capnpc's rule, for
    /// files directly under the source prefix; nested directories keep their path), then
    /// [`REQUEST_FILE`].
    fn output_names(&self) -> Vec<PathBuf> {
        let prefix = self.prefix();
        self.files
            .iter()
            .map(|file| {
                let rel = prefix
                    .as_ref()
                    .and_then(|p| file.strip_prefix(p).ok())
                    .unwrap_or(file);
                let stem = rel.with_extension("");
                let mut name = stem.into_os_string();
                name.push("_capnp.rs");
                PathBuf::from(name.to_string_lossy().replace('-', "_"))
            })
            .chain(std::iter::once(PathBuf::from(REQUEST_FILE)))
            .collect()
    }
}

fn tool_runs(tool: &Path) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_follow_capnpc() {
        let mut config = Config::new();
        config
            .file("schemas/kv.capnp")
            .file("schemas/chat-room.capnp");
        assert_eq!(
            config.output_names(),
            [
                PathBuf::from("kv_capnp.rs"),
                PathBuf::from("chat_room_capnp.rs"),
                PathBuf::from(REQUEST_FILE)
            ]
        );
    }

    #[test]
    fn no_files_is_an_error() {
        assert!(matches!(Config::new().run(), Err(Error::NoFiles)));
    }

    #[test]
    fn missing_tool_without_copy_says_what_to_do() {
        let dir = std::env::temp_dir().join(format!("wb-test-{}", std::process::id()));
        let mut config = Config::new();
        config
            .file("schemas/kv.capnp")
            .output_dir(&dir)
            .capnp_tool("/nonexistent/capnp")
            .front_end(FrontEndChoice::ToolOnly)
            .require_tool(false);
        let err = config.run().expect_err("no tool, no copy");
        let text = err.to_string();
        assert!(text.contains("apt-get install capnproto"), "{text}");
        assert!(text.contains("checked_in"), "{text}");
    }

    /// A schema error while a stale checked-in copy is configured: the user sees the error
    /// with its file:line, then why the copy cannot be used.
    #[test]
    fn schema_errors_surface_when_the_checked_in_copy_is_stale() {
        let root = std::env::temp_dir().join(format!("wb-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let schemas = root.join("schemas");
        let copy = root.join("generated");
        std::fs::create_dir_all(&schemas).expect("scratch dir");
        std::fs::create_dir_all(&copy).expect("scratch dir");
        let schema = schemas.join("kv.capnp");
        std::fs::write(
            &schema,
            "@0xd2f3c1b2a4e5f607;\nstruct Entry {\n  key @0 :Txet;\n}\n",
        )
        .expect("schema");
        // A copy recorded for some earlier version of the schema.
        std::fs::write(copy.join("kv_capnp.rs"), "// old\n").expect("copy");
        std::fs::write(
            copy.join(FINGERPRINTS),
            format!("{}  {}\n", "0".repeat(64), schema.display()),
        )
        .expect("fingerprints");
        let mut config = Config::new();
        config
            .file(&schema)
            .checked_in(&copy)
            .output_dir(root.join("out"))
            .capnp_tool("/nonexistent/capnp")
            .require_tool(false);
        let err = config.run().expect_err("a schema error and a stale copy");
        let text = err.to_string();
        let error_at = text
            .find("kv.capnp:3:")
            .unwrap_or_else(|| panic!("no file:line in {text}"));
        assert!(text.contains("Txet"), "{text}");
        let copy_at = text
            .find("checked-in")
            .unwrap_or_else(|| panic!("no copy reason: {text}"));
        assert!(error_at < copy_at, "the schema error comes first: {text}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn pure_rust_front_end_compiles_without_the_tool() {
        let dir = std::env::temp_dir().join(format!("wb-pure-{}", std::process::id()));
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../windlass-calculator");
        let schema = crate_dir.join("schemas/calculator.capnp");
        let mut config = Config::new();
        config
            .file(&schema)
            .output_dir(&dir)
            .capnp_tool("/nonexistent/capnp")
            .require_tool(false);
        assert_eq!(
            config.run().expect("pure Rust compiles"),
            Frontend::PureRust
        );
        let code = std::fs::read_to_string(dir.join("calculator_capnp.rs")).expect("generated");
        // The checked-in copy was generated by the C++ tool: the same bytes.
        let checked_in = crate_dir.join("src/generated/calculator_capnp.rs");
        let expected = std::fs::read_to_string(checked_in).expect("checked-in copy");
        assert!(
            code == expected,
            "pure-Rust output differs from windlass-calculator's src/generated/"
        );
        // The request the code came from is written beside it, with the nodes of the tool's
        // (the checked-in copy's, made by the tool).
        let node_ids = |path: PathBuf| {
            let bytes = std::fs::read(&path).expect("request written");
            let message = capnp::serialize::read_message(&mut &bytes[..], Default::default())
                .expect("a framed message");
            let request: capnp::schema_capnp::code_generator_request::Reader<'_> =
                message.get_root().expect("a CodeGeneratorRequest");
            let mut ids: Vec<u64> = request
                .get_nodes()
                .expect("nodes")
                .iter()
                .map(|n| n.get_id())
                .collect();
            ids.sort_unstable();
            ids
        };
        let ours = node_ids(dir.join(REQUEST_FILE));
        assert!(ours.len() > 10, "{ours:?}");
        assert_eq!(
            ours,
            node_ids(crate_dir.join("src/generated").join(REQUEST_FILE))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
