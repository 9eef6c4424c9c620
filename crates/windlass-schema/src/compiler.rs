//! The compiler's state: loaded files, the tree of declared nodes, IDs and error collection.
//!
//! `Compiler` is one type whose methods are spread by idea: name resolution and brands in
//! `brand`, node translation in `translate`, `structs` and `annotations`, values in `values`,
//! node selection and output in `emit`. Those files build on this one; this one uses only plain
//! data modules (`names`, `work`, `encode`, `model`, `ast`) and the parsing front end, never
//! them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::ast::{Decl, DeclId, DeclKind, Expr};
use crate::encode::TV;
use crate::error::{Diagnostic, Error, Span};
use crate::model::Type;
use crate::names::{Kind, Resolved};
use crate::work::{Progress, Work};
use crate::{ids, imports, lexer, parser, stdlib};

/// Where a file was found; relative imports resolve inside the same place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SourceDir {
    Disk(PathBuf),
    Embedded,
    /// Text handed in directly ([`crate::SchemaCompiler::compile_source`]).
    Memory,
}

/// A loaded schema file.
#[derive(Debug)]
pub(crate) struct FileInfo {
    /// The name the reference compiler would give it (relative to its source directory).
    pub name: String,
    pub dir: SourceDir,
    pub text: String,
    pub root: usize,
    /// Import expressions seen in this file, by name (for the requested-file import table).
    pub imports: std::collections::BTreeSet<String>,
}

/// A declared node (file, struct, enum, interface, const, annotation).
#[derive(Debug)]
pub(crate) struct NodeInfo {
    pub id: u64,
    pub parent: Option<usize>,
    pub file: usize,
    pub display_name: String,
    pub kind: Kind,
    /// The declaration, its nested node declarations moved out into `children`.
    pub decl: Decl,
    pub children: Vec<usize>,
    pub by_name: HashMap<String, usize>,
    pub aliases: HashMap<String, Expr>,
}

/// Options for finding files.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadOptions {
    pub import_paths: Vec<PathBuf>,
    pub src_prefixes: Vec<PathBuf>,
    pub standard_paths: bool,
    pub embedded_std: bool,
}

/// Everything the compiler knows.
#[derive(Debug, Default)]
pub(crate) struct Compiler {
    pub opts: LoadOptions,
    pub files: Vec<FileInfo>,
    pub file_by_key: HashMap<(SourceDir, String), usize>,
    pub file_by_canon: HashMap<PathBuf, usize>,
    pub nodes: Vec<NodeInfo>,
    pub node_by_id: HashMap<u64, usize>,
    pub errors: Vec<Error>,
    pub alias_cache: HashMap<(usize, String), Progress<Option<Resolved>>>,
    /// Translated nodes: the node itself plus its groups / param structs, with source info.
    pub translated: HashMap<usize, Progress<Work>>,
    /// Const values, once evaluated.
    pub const_values: HashMap<usize, Progress<Option<(TV, Type)>>>,
    /// In-memory sources by name.
    pub memory: HashMap<String, String>,
    /// Extra nodes by id (groups, param structs) → the node they belong to.
    pub aux_owner: HashMap<u64, usize>,
}

impl Compiler {
    pub(crate) fn error(&mut self, file: usize, span: Span, message: impl Into<String>) {
        let f = &self.files[file];
        let e = Error::locate(&f.name, &f.text, &Diagnostic::new(span, message.into()));
        if !self.errors.contains(&e) {
            self.errors.push(e);
        }
    }

    /// The source text of `span` in `file`, for messages.
    pub(crate) fn text(&self, file: usize, span: Span) -> String {
        let t = &self.files[file].text;
        let s = (span.start as usize).min(t.len());
        let e = (span.end as usize).clamp(s, t.len());
        t.get(s..e).unwrap_or("").to_string()
    }

    /// Loads and parses a file (once) and builds its node tree; returns the file index.
    pub(crate) fn load(&mut self, dir: SourceDir, rel: &str) -> Option<usize> {
        let key = (dir.clone(), rel.to_string());
        if let Some(&f) = self.file_by_key.get(&key) {
            return Some(f);
        }
        let text = match &dir {
            SourceDir::Disk(d) => {
                let full = d.join(rel);
                if !full.is_file() {
                    return None;
                }
                // The same file reached by another route (an import path and a source prefix,
                // relative and absolute names) is one file, named as first reached.
                let canon = std::fs::canonicalize(&full).unwrap_or_else(|_| full.clone());
                if let Some(&f) = self.file_by_canon.get(&canon) {
                    self.file_by_key.insert(key, f);
                    return Some(f);
                }
                self.file_by_canon.insert(canon, self.files.len());
                match std::fs::read(&full) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(t) => t,
                        Err(e) => {
                            let valid = e.utf8_error().valid_up_to();
                            let mut t = String::from_utf8_lossy(e.as_bytes()).into_owned();
                            t.truncate(valid);
                            let idx = self.files.len();
                            self.push_empty_file(key.clone(), rel, dir.clone(), t);
                            self.error(
                                idx,
                                Span::new(valid, valid + 1),
                                "Non-UTF-8 input detected. Cap'n Proto schema files must be \
                                 UTF-8 text.",
                            );
                            return Some(idx);
                        }
                    },
                    Err(e) => {
                        self.errors.push(Error::whole_file(
                            &full.display().to_string(),
                            format!("cannot read: {e}"),
                        ));
                        return None;
                    }
                }
            }
            SourceDir::Embedded => stdlib::lookup(rel)?.to_string(),
            SourceDir::Memory => self.memory.get(rel)?.clone(),
        };
        let idx = self.files.len();
        self.file_by_key.insert(key, idx);
        self.files.push(FileInfo {
            name: rel.to_string(),
            dir,
            text: text.clone(),
            root: usize::MAX,
            imports: Default::default(),
        });
        let mut diags = Vec::new();
        let root = match lexer::lex(&text) {
            Ok(stmts) => parser::parse_file(&stmts, &mut diags),
            Err(d) => {
                diags.push(d);
                parser::parse_file(&[], &mut Vec::new())
            }
        };
        let had_errors = !diags.is_empty();
        for d in diags {
            self.error(idx, d.span, d.message);
        }
        let mut root = root;
        if !matches!(root.id, DeclId::Uid(..)) {
            // A deterministic stand-in ID, so that compilation can go on and report more.
            let id = ids::child_id(0x8000_0000_0000_0000, rel);
            root.id = DeclId::Uid(id, Span::default());
            if !had_errors {
                self.error(
                    idx,
                    Span::new(0, 0),
                    format!(
                        "File does not declare an ID. Add a line like this one to it \
                         (`capnp id` makes a new one): @0x{id:x};"
                    ),
                );
            }
        }
        let mut imports = Default::default();
        imports::find_in_decl(&root, &mut imports);
        self.files[idx].imports = imports;
        let root_node = self.add_node(idx, None, root);
        self.files[idx].root = root_node;
        Some(idx)
    }

    fn push_empty_file(&mut self, key: (SourceDir, String), rel: &str, dir: SourceDir, t: String) {
        let idx = self.files.len();
        self.file_by_key.insert(key, idx);
        self.files.push(FileInfo {
            name: rel.to_string(),
            dir,
            text: t,
            root: usize::MAX,
            imports: Default::default(),
        });
        let mut root = parser::parse_file(&[], &mut Vec::new());
        root.id = DeclId::Uid(ids::child_id(0x8000_0000_0000_0000, rel), Span::default());
        let r = self.add_node(idx, None, root);
        self.files[idx].root = r;
    }

    fn add_node(&mut self, file: usize, parent: Option<usize>, mut decl: Decl) -> usize {
        let kind = match decl.kind {
            DeclKind::File => Kind::File,
            DeclKind::Struct => Kind::Struct,
            DeclKind::Enum => Kind::Enum,
            DeclKind::Interface { .. } => Kind::Interface,
            DeclKind::Const { .. } => Kind::Const,
            _ => Kind::Annotation,
        };
        let parent_id = parent.map_or(0, |p| self.nodes[p].id);
        let id = match decl.id {
            DeclId::Uid(id, _) => id,
            _ => ids::child_id(parent_id, &decl.name),
        };
        let display_name = match parent {
            None => self.files[file].name.clone(),
            Some(p) => {
                let sep = if self.nodes[p].parent.is_none() {
                    ':'
                } else {
                    '.'
                };
                format!("{}{}{}", self.nodes[p].display_name, sep, decl.name)
            }
        };
        let nested = std::mem::take(&mut decl.nested);
        let idx = self.nodes.len();
        let span = if decl.name.is_empty() {
            decl.span
        } else {
            decl.name_span
        };
        if let Some(&other) = self.node_by_id.get(&id) {
            if id & (1 << 63) != 0 {
                let other_name = self.nodes[other].display_name.clone();
                self.error(
                    file,
                    span,
                    format!("Duplicate ID @0x{id:x}: it is already the ID of '{other_name}'."),
                );
            }
        } else {
            self.node_by_id.insert(id, idx);
        }
        self.nodes.push(NodeInfo {
            id,
            parent,
            file,
            display_name,
            kind,
            decl,
            children: Vec::new(),
            by_name: HashMap::new(),
            aliases: HashMap::new(),
        });
        let mut members = Vec::new();
        for d in nested {
            match &d.kind {
                DeclKind::Struct
                | DeclKind::Enum
                | DeclKind::Interface { .. }
                | DeclKind::Const { .. }
                | DeclKind::Annotation { .. } => {
                    let name = d.name.clone();
                    let child = self.add_node(file, Some(idx), d);
                    self.nodes[idx].children.push(child);
                    self.nodes[idx].by_name.entry(name).or_insert(child);
                }
                DeclKind::Using(target) => {
                    let target = target.clone();
                    self.nodes[idx].aliases.insert(d.name.clone(), target);
                    members.push(d);
                }
                _ => members.push(d),
            }
        }
        self.nodes[idx].decl.nested = members;
        idx
    }

    /// Finds a file for `import "name"` written in `file`.
    pub(crate) fn resolve_import(&mut self, file: usize, name: &str) -> Option<usize> {
        if let Some(abs) = name.strip_prefix('/') {
            let rel = normalize(abs)?;
            let mut dirs: Vec<PathBuf> = self.opts.import_paths.clone();
            if self.opts.standard_paths {
                dirs.push(PathBuf::from("/usr/local/include"));
                dirs.push(PathBuf::from("/usr/include"));
            }
            for d in dirs {
                if let Some(f) = self.load(SourceDir::Disk(d), &rel) {
                    return Some(f);
                }
            }
            if self.opts.embedded_std {
                return self.load(SourceDir::Embedded, &rel);
            }
            None
        } else {
            let base = &self.files[file].name;
            let parent = match base.rfind('/') {
                Some(i) => &base[..i + 1],
                None => "",
            };
            let rel = normalize(&format!("{parent}{name}"))?;
            let dir = self.files[file].dir.clone();
            self.load(dir, &rel)
        }
    }

    /// Loads a file named on the command line; names it as the reference compiler does.
    pub(crate) fn load_requested(&mut self, path: &Path) -> Result<usize, String> {
        let cwd = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
        let abs = lexical_absolute(&cwd, path);
        let mut best: Option<(PathBuf, String)> = None;
        for prefix in &self.opts.src_prefixes {
            let p = lexical_absolute(&cwd, prefix);
            if let Ok(rest) = abs.strip_prefix(&p) {
                let rest = rest.to_string_lossy().replace('\\', "/");
                if !rest.is_empty()
                    && best
                        .as_ref()
                        .is_none_or(|(bp, _)| p.as_os_str().len() > bp.as_os_str().len())
                {
                    best = Some((p.clone(), rest));
                }
            }
        }
        let (dir, rel) = match best {
            Some(b) => b,
            None => match abs.strip_prefix(&cwd) {
                Ok(rest) => (cwd.clone(), rest.to_string_lossy().replace('\\', "/")),
                Err(_) => (
                    PathBuf::from("/"),
                    abs.to_string_lossy().trim_start_matches('/').to_string(),
                ),
            },
        };
        self.load(SourceDir::Disk(dir), &rel)
            .ok_or_else(|| "no such file".to_string())
    }
}

/// Resolves `.` and `..` in a `/`-separated relative path; `None` if it climbs out.
fn normalize(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

fn lexical_absolute(cwd: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(s) => out.push(s),
            _ => {}
        }
    }
    out
}
