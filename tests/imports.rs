//! The import rules of the layers, held by reading the source: who may import whom, and no circles.
//!
//! The compiler allows any module to import any other, so these rules would erode one convenient import
//! at a time; here each is a test that names the offending file and the path it imports. The source is
//! read as text: comments, strings and characters are blanked, every `use` tree is expanded, and every
//! path that starts at `crate`, `super` or `self` (or at a name a `use` brought in, or at a child module)
//! is resolved to the file of the module it names. Paths reached only through a glob import or a macro's
//! expansion are not seen; `use` them by name where a rule must see them.
//!
//! The rooms and what each may import:
//! - `domain/` imports nothing of the crate but `domain/`.
//! - `db/` imports only `domain/` (and itself).
//! - `mail/` and `report/` render; they import neither `db/` nor `api/` nor the background jobs.
//! - `api/` is imported only by `startup` and `main`; inside it, the toolbox (`common`, `state`, `error`,
//!   `extract`, `access`, `idempotency`, `limits`, `middleware`, `spec`) imports no feature module and
//!   not the roof (`api/mod.rs`), which imports every feature.
//! - The background jobs (`jobs/`, and the top-level loops it replaces) are started by `startup`, `main`,
//!   `api` and `cli` only, and import only what they drive.
//! - No circles between files inside `db/`, `domain/` and `api/`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failed expectation is a failed test")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The toolbox of `api/`: what every handler may use. None of it may import a feature.
const API_TOOLBOX: &[&str] =
    &["common", "state", "error", "extract", "access", "idempotency", "limits", "middleware", "spec"];

/// The background loops.
const JOBS: &[&str] = &["jobs"];

/// What the background loops may import: the rows they claim, the rules they apply, what they render and
/// send, the settings and the stop signal they run under, and the keys that sign one-click links.
const JOBS_MAY_IMPORT: &[&str] = &["db", "domain", "mail", "config", "outbound", "metrics", "shutdown", "auth"];

/// Who may start or ask the background loops.
const JOBS_IMPORTED_BY: &[&str] = &["startup", "main", "api", "cli"];

#[test]
fn domain_imports_nothing_of_the_crate_but_domain() {
    let crate_ = Crate::read();
    assert_no_violations(
        "domain/ imports only domain/",
        crate_.edges().filter(|e| e.importer_room() == "domain" && e.imported_room() != "domain"),
    );
}

#[test]
fn db_imports_only_domain() {
    let crate_ = Crate::read();
    assert_no_violations(
        "db/ imports only domain/",
        crate_.edges().filter(|e| e.importer_room() == "db" && !["db", "domain"].contains(&e.imported_room())),
    );
}

#[test]
fn mail_and_report_touch_neither_the_database_nor_http_nor_jobs() {
    let crate_ = Crate::read();
    assert_no_violations(
        "mail/ and report/ import neither db/ nor api/ nor the background jobs",
        crate_.edges().filter(|e| {
            ["mail", "report"].contains(&e.importer_room())
                && (["db", "api"].contains(&e.imported_room()) || is_job(e.imported_room()))
        }),
    );
}

#[test]
fn only_the_roof_imports_api() {
    let crate_ = Crate::read();
    assert_no_violations(
        "only api/, startup and main import api/",
        crate_
            .edges()
            .filter(|e| e.imported_room() == "api" && !["api", "startup", "main"].contains(&e.importer_room())),
    );
}

#[test]
fn the_api_toolbox_imports_no_feature() {
    let crate_ = Crate::read();
    assert_no_violations(
        "the api toolbox imports only the api toolbox",
        crate_.edges().filter(|e| {
            e.importer_room() == "api"
                && API_TOOLBOX.contains(&e.importer_api_part())
                && e.imported_room() == "api"
                && !API_TOOLBOX.contains(&e.imported_api_part())
        }),
    );
}

#[test]
fn background_jobs_are_started_only_from_the_roof() {
    let crate_ = Crate::read();
    assert_no_violations(
        "only startup, main, api/ and cli import the background jobs",
        crate_.edges().filter(|e| {
            is_job(e.imported_room()) && !is_job(e.importer_room()) && !JOBS_IMPORTED_BY.contains(&e.importer_room())
        }),
    );
}

#[test]
fn background_jobs_import_only_what_they_drive() {
    let crate_ = Crate::read();
    assert_no_violations(
        "the background jobs import only db/, domain/, mail/, config, outbound, metrics, shutdown and auth",
        crate_.edges().filter(|e| {
            is_job(e.importer_room()) && !is_job(e.imported_room()) && !JOBS_MAY_IMPORT.contains(&e.imported_room())
        }),
    );
}

#[test]
fn no_import_circles_inside_db_domain_and_api() {
    let crate_ = Crate::read();
    let mut circles = Vec::new();
    for room in ["db", "domain", "api"] {
        let graph: BTreeMap<&str, BTreeSet<&str>> = crate_
            .edges()
            .filter(|e| e.importer_room() == room && e.imported_room() == room)
            .fold(BTreeMap::new(), |mut graph, e| {
                graph.entry(e.from.as_str()).or_default().insert(e.to.as_str());
                graph
            });
        circles.extend(circles_in(&graph));
    }
    assert!(circles.is_empty(), "import circles between files:\n{}", circles.join("\n"));
}

fn is_job(room: &str) -> bool {
    JOBS.contains(&room)
}

fn assert_no_violations<'a>(rule: &str, violations: impl Iterator<Item = &'a Edge>) {
    let found: Vec<String> = violations.map(|e| format!("  {} imports {} ({})", e.from, e.to, e.path)).collect();
    assert!(found.is_empty(), "broken rule: {rule}\n{}", found.join("\n"));
}

/// One file importing another: `from` and `to` are paths under src/, `path` is the path as resolved.
#[derive(Debug)]
struct Edge {
    from: String,
    to: String,
    path: String,
}

impl Edge {
    fn importer_room(&self) -> &str {
        room(&self.from)
    }

    fn imported_room(&self) -> &str {
        room(&self.to)
    }

    fn importer_api_part(&self) -> &str {
        api_part(&self.from)
    }

    fn imported_api_part(&self) -> &str {
        api_part(&self.to)
    }
}

/// The top-level module a file belongs to: `db/actions.rs` → `db`, `config.rs` → `config`.
fn room(file: &str) -> &str {
    let first = file.split('/').next().unwrap_or(file);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// The module of `api/` a file belongs to (`api/actions/query.rs` → `actions`); `""` for `api/mod.rs`.
fn api_part(file: &str) -> &str {
    match file.strip_prefix("api/") {
        Some("mod.rs") | None => "",
        Some(rest) => {
            let first = rest.split('/').next().unwrap_or(rest);
            first.strip_suffix(".rs").unwrap_or(first)
        }
    }
}

/// Every circle in a directed graph, one per strongly connected component of more than one file.
fn circles_in(graph: &BTreeMap<&str, BTreeSet<&str>>) -> Vec<String> {
    // Tarjan's algorithm: the graphs have a few dozen nodes, so recursion is fine.
    struct Walk<'g, 'a> {
        graph: &'g BTreeMap<&'a str, BTreeSet<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<&'a str>>,
    }
    impl<'a> Walk<'_, 'a> {
        fn visit(&mut self, node: &'a str) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            self.on_stack.insert(node);
            for &next in self.graph.get(node).into_iter().flatten() {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    component.push(top);
                    if top == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort_unstable();
                    self.components.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for &node in graph.keys() {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.components
        .iter()
        .map(|component| {
            let inside: BTreeSet<&str> = component.iter().copied().collect();
            let edges: Vec<String> = component
                .iter()
                .flat_map(|from| {
                    graph[from].iter().filter(|to| inside.contains(*to)).map(move |to| format!("{from} → {to}"))
                })
                .collect();
            format!("  {}: {}", component.join(", "), edges.join("; "))
        })
        .collect()
}

/// The crate's files, read and resolved.
struct Crate {
    edges: Vec<Edge>,
}

/// One source file: its module path and its code as tokens.
struct File {
    /// Under src/, with `/`.
    name: String,
    module: Vec<String>,
    /// The binary's own `crate` is not the library: main.rs reaches the library by its crate name only.
    binary: bool,
    tokens: Vec<String>,
}

impl Crate {
    fn read() -> Self {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut paths = Vec::new();
        rust_files(&src, &mut paths);
        let files: Vec<File> = paths
            .iter()
            .map(|path| {
                let name = path.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
                let source = std::fs::read_to_string(path).unwrap();
                File { module: module_of(&name), binary: name == "main.rs", name, tokens: tokens(&blank(&source)) }
            })
            .collect();
        Self::from_files(&files)
    }

    fn from_files(files: &[File]) -> Self {
        let modules: BTreeMap<Vec<String>, usize> =
            files.iter().enumerate().filter(|(_, f)| !f.binary).map(|(i, f)| (f.module.clone(), i)).collect();
        let mut edges = Vec::new();
        let mut seen = BTreeSet::new();
        for file in files {
            for path in parse(file, &modules) {
                let Some(target) = file_of(&path, &modules) else { continue };
                let to = &files[target].name;
                if *to != file.name && seen.insert((file.name.clone(), to.clone())) {
                    let path = format!("crate::{}", path.join("::"));
                    edges.push(Edge { from: file.name.clone(), to: to.clone(), path });
                }
            }
        }
        Self { edges }
    }

    fn edges(&self) -> impl Iterator<Item = &Edge> {
        self.edges.iter()
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// `lib.rs` → the root, `db/mod.rs` → `db`, `api/actions/query.rs` → `api::actions::query`.
fn module_of(name: &str) -> Vec<String> {
    let mut parts: Vec<String> = name.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The file a path names: the longest prefix that is a file's module. A re-export is not followed: a
/// file that names `mail::Outgoing` depends on `mail` keeping that name, wherever it is defined.
fn file_of(path: &[String], modules: &BTreeMap<Vec<String>, usize>) -> Option<usize> {
    (0..=path.len()).rev().find_map(|len| modules.get(&path[..len]).copied())
}

/// One `use` leaf: its module context, the path as written, and the name it binds.
struct UseLeaf {
    context: Vec<String>,
    path: Vec<String>,
    name: Option<String>,
}

/// What a file refers to, as absolute module paths.
fn parse(file: &File, modules: &BTreeMap<Vec<String>, usize>) -> Vec<Vec<String>> {
    let t = &file.tokens;
    let children: BTreeSet<&str> = modules
        .keys()
        .filter(|m| m.len() == file.module.len() + 1 && m.starts_with(&file.module))
        .map(|m| m[file.module.len()].as_str())
        .collect();
    // First pass: every `use`, and every path in the code with the module it is written in.
    let mut leaves = Vec::new();
    let mut code_paths: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < t.len() {
        let context: Vec<String> = file.module.iter().cloned().chain(inline.iter().map(|(m, _)| m.clone())).collect();
        match t[i].as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if inline.last().is_some_and(|(_, d)| *d > depth) {
                    inline.pop();
                }
            }
            "mod" if t.get(i + 2).is_some_and(|s| s == "{") => {
                inline.push((t[i + 1].clone(), depth + 1));
            }
            "use" => {
                let mut leaf_paths = Vec::new();
                i += 1;
                use_tree(t, &mut i, Vec::new(), &mut leaf_paths);
                for (path, name) in leaf_paths {
                    leaves.push(UseLeaf { context: context.clone(), path, name });
                }
                continue;
            }
            word if is_ident(word) && t.get(i + 1).is_some_and(|s| s == "::") && (i == 0 || t[i - 1] != "::") => {
                let mut path = vec![word.to_owned()];
                i += 1;
                while t.get(i).is_some_and(|s| s == "::") && t.get(i + 1).is_some_and(|s| is_ident(s)) {
                    path.push(t[i + 1].clone());
                    i += 2;
                }
                code_paths.push((context, path));
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let resolve = |context: &[String], path: &[String], aliases: &BTreeMap<String, Vec<String>>| {
        absolute(file, context, path, &children, aliases)
    };
    // Second pass: `use` leaves resolve without aliases; then code paths may start at a name they bound.
    let mut aliases = BTreeMap::new();
    let mut paths = Vec::new();
    for leaf in &leaves {
        let Some(abs) = resolve(&leaf.context, &leaf.path, &BTreeMap::new()) else { continue };
        if let Some(name) = &leaf.name {
            aliases.insert(name.clone(), abs.clone());
        }
        paths.push(abs);
    }
    for (context, path) in &code_paths {
        if let Some(abs) = resolve(context, path, &aliases) {
            paths.push(abs);
        }
    }
    paths
}

/// A path as written, made absolute from the crate root; `None` for another crate's path.
fn absolute(
    file: &File,
    context: &[String],
    path: &[String],
    children: &BTreeSet<&str>,
    aliases: &BTreeMap<String, Vec<String>>,
) -> Option<Vec<String>> {
    let first = path.first()?.as_str();
    let (mut base, rest): (Vec<String>, &[String]) = match first {
        "action_tracker" => (Vec::new(), &path[1..]),
        "crate" if !file.binary => (Vec::new(), &path[1..]),
        "self" if !file.binary => (context.to_vec(), &path[1..]),
        "super" if !file.binary => {
            let mut base = context.to_vec();
            let supers = path.iter().take_while(|s| *s == "super").count();
            for _ in 0..supers {
                base.pop()?;
            }
            (base, &path[supers..])
        }
        _ if aliases.contains_key(first) => (aliases[first].clone(), &path[1..]),
        _ if !file.binary && context == file.module && children.contains(first) => (context.to_vec(), path),
        _ => return None,
    };
    base.extend(rest.iter().cloned());
    Some(base)
}

/// Expands a `use` tree from `i` to its end into leaf paths, each with the name it binds (none for `*`).
fn use_tree(t: &[String], i: &mut usize, mut prefix: Vec<String>, out: &mut Vec<(Vec<String>, Option<String>)>) {
    loop {
        match t.get(*i).map(String::as_str) {
            Some("::") => *i += 1,
            Some("{") => {
                *i += 1;
                while t.get(*i).is_some_and(|s| s != "}") {
                    use_tree(t, i, prefix.clone(), out);
                    if t.get(*i).is_some_and(|s| s == ",") {
                        *i += 1;
                    }
                }
                *i += 1;
                break;
            }
            Some("*") => {
                *i += 1;
                out.push((prefix, None));
                break;
            }
            Some("self") if !prefix.is_empty() => {
                *i += 1;
                let name = alias(t, i).or_else(|| prefix.last().cloned());
                out.push((prefix, name));
                break;
            }
            Some(word) if is_ident(word) => {
                prefix.push(word.to_owned());
                *i += 1;
                if t.get(*i).is_some_and(|s| s == "::") {
                    continue;
                }
                let name = alias(t, i).or_else(|| prefix.last().cloned()).filter(|n| n != "_");
                out.push((prefix, name));
                break;
            }
            _ => break,
        }
    }
    if t.get(*i).is_some_and(|s| s == ";") {
        *i += 1;
    }
}

fn alias(t: &[String], i: &mut usize) -> Option<String> {
    if t.get(*i).is_some_and(|s| s == "as") {
        *i += 2;
        return t.get(*i - 1).cloned();
    }
    None
}

fn is_ident(word: &str) -> bool {
    word.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// The source with comments, strings and character literals blanked, so that only code is read.
fn blank(source: &str) -> String {
    let c: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        if at(i) == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(i) == '/' && at(i + 1) == '*' {
            let mut nesting = 0;
            while i < c.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    nesting += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    nesting -= 1;
                    i += 2;
                    if nesting == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if (at(i) == 'r' || (at(i) == 'b' && at(i + 1) == 'r')) && (i == 0 || !ident(c[i - 1])) && {
            let start = if at(i) == 'b' { i + 2 } else { i + 1 };
            let hashes = (start..).take_while(|&k| at(k) == '#').count();
            at(start + hashes) == '"'
        } {
            let start = if at(i) == 'b' { i + 2 } else { i + 1 };
            let hashes = (start..).take_while(|&k| at(k) == '#').count();
            i = start + hashes + 1;
            while i < c.len() && !(c[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#')) {
                i += 1;
            }
            i += 1 + hashes;
            out.push_str("\"\"");
        } else if at(i) == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if at(i) == '\'' && at(i + 1) == '\\' {
            i += 3;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if at(i) == '\'' && at(i + 2) == '\'' {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Identifiers, `::`, and every other character that is not blank, one token each.
fn tokens(code: &str) -> Vec<String> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_alphabetic() || c[i] == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(c[start..i].iter().collect());
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".to_owned());
            i += 2;
        } else if c[i].is_whitespace() {
            i += 1;
        } else if c[i].is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                i += 1;
            }
        } else {
            out.push(c[i].to_string());
            i += 1;
        }
    }
    out
}

/// The reader itself, on small crates made up here: a rule is only as good as the edges it sees.
mod reader {
    use super::*;

    fn crate_of(files: &[(&str, &str)]) -> Vec<String> {
        let files: Vec<File> = files
            .iter()
            .map(|(name, source)| File {
                name: (*name).to_owned(),
                module: module_of(name),
                binary: *name == "main.rs",
                tokens: tokens(&blank(source)),
            })
            .collect();
        Crate::from_files(&files).edges.iter().map(|e| format!("{} → {}", e.from, e.to)).collect()
    }

    #[test]
    fn sees_use_trees_super_and_inline_paths() {
        let edges = crate_of(&[
            ("lib.rs", "pub mod db; pub mod domain; pub mod mail;"),
            ("db/mod.rs", "pub mod actions; pub mod common; pub struct Db;"),
            (
                "db/actions.rs",
                "use super::{Db, common::{self, lower}};\n\
                 use crate::domain::action::{Action as A, *};\n\
                 fn f() { let _ = crate::mail::send(); }",
            ),
            ("db/common.rs", "pub fn lower() {}"),
            ("domain/mod.rs", "pub mod action;"),
            ("domain/action.rs", "pub struct Action;"),
            ("mail/mod.rs", "pub fn send() {}"),
        ]);
        assert_eq!(
            edges,
            [
                "db/actions.rs → db/mod.rs",
                "db/actions.rs → db/common.rs",
                "db/actions.rs → domain/action.rs",
                "db/actions.rs → mail/mod.rs"
            ]
        );
    }

    #[test]
    fn ignores_comments_strings_and_a_test_module_importing_its_file() {
        let edges = crate_of(&[
            ("lib.rs", "pub mod db; pub mod mail;"),
            (
                "db/mod.rs",
                "//! See [`crate::mail::send`].\n\
                 /* crate::mail::send() /* nested */ crate::mail::send() */\n\
                 const A: &str = \"crate::mail::send\"; const B: &str = r#\"crate::mail::\"send\"#;\n\
                 const C: char = '\"'; fn f<'a>(x: &'a str) -> &'a str { x }\n\
                 #[cfg(test)] mod tests { use super::*; }",
            ),
            ("mail/mod.rs", "pub fn send() {}"),
        ]);
        assert!(edges.is_empty(), "{edges:?}");
    }

    #[test]
    fn follows_aliases_and_children() {
        let edges = crate_of(&[
            ("lib.rs", "pub mod db; pub mod domain;"),
            ("db/mod.rs", "pub mod people; pub mod rows; use rows::Row;"),
            ("db/people.rs", "use crate::db; fn f() { db::rows::parse(); crate::domain::FieldError::new(); }"),
            ("db/rows.rs", "pub struct Row; pub fn parse() {}"),
            ("domain/mod.rs", "pub mod errors; pub use errors::FieldError;"),
            ("domain/errors.rs", "pub struct FieldError;"),
            ("main.rs", "use action_tracker::db::Db; fn main() { crate::run(); }"),
        ]);
        assert_eq!(
            edges,
            [
                "db/mod.rs → db/rows.rs",
                "db/people.rs → db/mod.rs",
                "db/people.rs → db/rows.rs",
                "db/people.rs → domain/mod.rs",
                "domain/mod.rs → domain/errors.rs",
                "main.rs → db/mod.rs"
            ]
        );
    }

    #[test]
    fn finds_circles() {
        let graph: BTreeMap<&str, BTreeSet<&str>> = [
            ("a", BTreeSet::from(["b"])),
            ("b", BTreeSet::from(["c"])),
            ("c", BTreeSet::from(["a", "d"])),
            ("d", BTreeSet::new()),
        ]
        .into_iter()
        .collect();
        assert_eq!(circles_in(&graph), ["  a, b, c: a → b; b → c; c → a"]);
        let tree: BTreeMap<&str, BTreeSet<&str>> =
            [("a", BTreeSet::from(["b", "c"])), ("b", BTreeSet::from(["c"]))].into_iter().collect();
        assert!(circles_in(&tree).is_empty());
    }
}
