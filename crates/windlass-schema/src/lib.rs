//! A Cap'n Proto schema compiler front end in pure Rust.
//!
//! It reads `.capnp` files and produces the `CodeGeneratorRequest` that `capnp compile -o-`
//! would hand a code generator plugin, so that `capnpc`'s Rust generator can run without the
//! C++ tool installed:
//!
//! ```no_run
//! let request = windlass_schema::SchemaCompiler::new()
//!     .file("crates/windlass-calculator/schemas/calculator.capnp")
//!     .src_prefix("schemas")
//!     .compile_to_bytes()
//!     .expect("schema compiles");
//! capnpc::codegen::CodeGenerationCommand::new()
//!     .output_directory("out")
//!     .run(&request[..])
//!     .expect("code generation");
//! ```
//!
//! Node IDs, struct layout, field order, group and parameter-struct IDs, brands, default values
//! and doc comments follow the reference compiler (capnproto 0.9), so the generated code is the
//! same. What is supported and what is not is listed in the crate's README; anything
//! unsupported is reported as an error, never compiled silently into something different.

#![forbid(unsafe_code)]

mod annotations;
mod ast;
mod brand;
mod compiler;
mod emit;
mod encode;
mod error;
mod ids;
mod imports;
mod layout;
mod lexer;
mod md5;
mod model;
mod names;
mod parser;
mod stdlib;
mod structs;
mod translate;
mod values;
mod work;

use std::path::{Path, PathBuf};

pub use error::{Error, Errors, Span};

/// The version this front end writes into `CodeGeneratorRequest.capnpVersion`: the reference
/// compiler release whose behaviour it reproduces.
pub const CAPNP_VERSION: (u8, u8, u8) = (0, 9, 2);

/// A compiled `CodeGeneratorRequest` message.
pub type Request = capnp::message::Builder<capnp::message::HeapAllocator>;

/// The standard schema files built into this crate, by the name an `import "/..."` gives them
/// (`"capnp/schema.capnp"`, ...): used when no import path has a file of that name.
pub fn embedded_schema_names() -> &'static [&'static str] {
    stdlib::NAMES
}

/// The text of the built-in standard schema `name` (one of [`embedded_schema_names`]). It
/// declares the same file ID, node IDs, names, layouts and annotations as the official file;
/// the comments and formatting are this crate's own.
pub fn embedded_schema(name: &str) -> Option<&'static str> {
    stdlib::lookup(name)
}

/// What to compile: files, import paths and source prefixes, as `capnp compile`'s arguments.
#[derive(Debug, Clone)]
pub struct SchemaCompiler {
    files: Vec<PathBuf>,
    import_paths: Vec<PathBuf>,
    src_prefixes: Vec<PathBuf>,
    standard_import_paths: bool,
    embedded_std: bool,
}

impl Default for SchemaCompiler {
    fn default() -> Self {
        SchemaCompiler {
            files: Vec::new(),
            import_paths: Vec::new(),
            src_prefixes: Vec::new(),
            standard_import_paths: true,
            embedded_std: true,
        }
    }
}

impl SchemaCompiler {
    /// No files yet; standard import paths (`/usr/local/include`, `/usr/include`) and the
    /// embedded standard schemas enabled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file to compile (`capnp compile FILE`).
    pub fn file(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.files.push(path.as_ref().to_path_buf());
        self
    }

    /// Adds a directory searched by `import "/..."` (`-I DIR`), before the standard ones.
    pub fn import_path(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.import_paths.push(dir.as_ref().to_path_buf());
        self
    }

    /// A prefix removed from requested file names (`--src-prefix DIR`).
    pub fn src_prefix(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.src_prefixes.push(dir.as_ref().to_path_buf());
        self
    }

    /// Whether `/usr/local/include` and `/usr/include` are searched (`--no-standard-import`
    /// turns this off). Default: on.
    pub fn standard_import_paths(&mut self, on: bool) -> &mut Self {
        self.standard_import_paths = on;
        self
    }

    /// Whether the standard schemas of [`embedded_schema_names`] (`/capnp/c++.capnp`,
    /// `/capnp/schema.capnp`, ...) fall back to the copies built into this crate when no
    /// import path has them. A file in an import path always wins. Default: on.
    pub fn embedded_standard_schemas(&mut self, on: bool) -> &mut Self {
        self.embedded_std = on;
        self
    }

    /// Compiles the files into a `CodeGeneratorRequest` message.
    ///
    /// # Errors
    /// Every error found, each with its file, line, column and what was expected.
    pub fn compile(&self) -> Result<Request, Errors> {
        self.compile_inner(None)
    }

    /// Compiles one schema given as text (named `name`), plus the configured files. Relative
    /// imports from it find nothing; absolute ones use the import paths as usual. This is what
    /// the fuzz target drives.
    ///
    /// # Errors
    /// As [`SchemaCompiler::compile`].
    pub fn compile_source(&self, name: &str, text: &str) -> Result<Request, Errors> {
        self.compile_inner(Some((name, text)))
    }

    fn compile_inner(&self, source: Option<(&str, &str)>) -> Result<Request, Errors> {
        let mut c = compiler::Compiler {
            opts: compiler::LoadOptions {
                import_paths: self.import_paths.clone(),
                src_prefixes: self.src_prefixes.clone(),
                standard_paths: self.standard_import_paths,
                embedded_std: self.embedded_std,
            },
            ..Default::default()
        };
        if self.files.is_empty() && source.is_none() {
            return Err(Errors(vec![Error::whole_file(
                "(command line)",
                "no schema files given".into(),
            )]));
        }
        let mut requested = Vec::new();
        if let Some((name, text)) = source {
            c.memory.insert(name.to_string(), text.to_string());
            if let Some(idx) = c.load(compiler::SourceDir::Memory, name) {
                requested.push(idx);
            }
        }
        for f in &self.files {
            match c.load_requested(f) {
                Ok(idx) => requested.push(idx),
                Err(why) => c
                    .errors
                    .push(Error::whole_file(&f.display().to_string(), why)),
            }
        }
        let mut sel = emit::Selection::default();
        for &f in &requested {
            let mut seen = Default::default();
            let root = c.files[f].root;
            c.traverse(root, emit::EAGER, &mut seen, &mut sel);
        }
        let mut table = Vec::new();
        for &f in &requested {
            let names: Vec<String> = c.files[f].imports.iter().cloned().collect();
            let mut imports = Vec::new();
            for name in names {
                if let Some(g) = c.resolve_import(f, &name) {
                    imports.push((c.nodes[c.files[g].root].id, name));
                }
            }
            let root = c.files[f].root;
            table.push((c.nodes[root].id, c.files[f].name.clone(), imports));
        }
        if !c.errors.is_empty() {
            return Err(Errors(c.errors));
        }
        let nodes = c.collect(&sel);
        if !c.errors.is_empty() {
            return Err(Errors(c.errors));
        }
        let mut message = capnp::message::Builder::new_default();
        let mut req =
            message.init_root::<capnp::schema_capnp::code_generator_request::Builder<'_>>();
        if let Err(e) = emit::write_request(&mut req, &nodes, &sel.infos, &table) {
            return Err(Errors(vec![Error::whole_file(
                "(output)",
                format!("internal error writing the request: {e}"),
            )]));
        }
        Ok(message)
    }

    /// [`SchemaCompiler::compile`], serialized with the standard stream framing (what
    /// `capnp compile -o-` writes to stdout).
    ///
    /// # Errors
    /// As [`SchemaCompiler::compile`].
    pub fn compile_to_bytes(&self) -> Result<Vec<u8>, Errors> {
        let message = self.compile()?;
        Ok(capnp::serialize::write_message_to_words(&message))
    }
}
