//! The rooms stay rooms: no two modules of a crate import each other, directly or in a loop.
//!
//! Reads the sources of every crate of the workspace and follows the `crate::`, `super::` and
//! `self::` paths of each module's non-test code to the module they name (through the re-exports
//! of a `mod.rs` or `lib.rs` to the child that defines the item), then looks for cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type ModPath = Vec<String>;

/// One crate's modules: module path → (file, text without its test module).
fn modules(src: &Path) -> BTreeMap<ModPath, (PathBuf, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Some(module) = module_path(src, &path) else {
                continue;
            };
            let text = std::fs::read_to_string(&path).expect("read a source file");
            out.insert(module, (path, without_tests(&text)));
        }
    }
    out
}

/// `a/b.rs` → [a, b], `a/mod.rs` → [a], `lib.rs` → []; test-only files and binaries: none.
fn module_path(src: &Path, file: &Path) -> Option<ModPath> {
    let relative = file.strip_prefix(src).ok()?;
    if file.extension()? != "rs" {
        return None;
    }
    let mut parts: ModPath = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|first| first == "bin") {
        return None;
    }
    let last = parts.pop()?;
    let stem = last.trim_end_matches(".rs");
    let test_only = stem == "tests"
        || stem.ends_with("_tests")
        || stem.starts_with("test_")
        || parts.iter().any(|part| part == "tests");
    if test_only || (parts.is_empty() && stem == "main") {
        return None;
    }
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    Some(parts)
}

/// The code before the file's inline `#[cfg(test)] mod tests { ... }`, without comments.
fn without_tests(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|pair| pair[0].trim() == "#[cfg(test)]" && pair[1].trim_end().ends_with('{'))
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .filter(|line| !line.trim_start().starts_with("//"))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path the text names from `crate::`, `super::` or `self::`, with braces expanded:
/// (prefix, segments).
fn named_paths(text: &str) -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();
    for prefix in ["crate::", "super::", "self::"] {
        let mut at = 0;
        while let Some(found) = text[at..].find(prefix) {
            let start = at + found;
            at = start + prefix.len();
            let before = text[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut paths = Vec::new();
            parse_tree(&text[at..], Vec::new(), &mut paths);
            let kind = match prefix {
                "crate::" => "crate",
                "super::" => "super",
                _ => "self",
            };
            out.extend(paths.into_iter().map(|path| (kind, path)));
        }
    }
    out
}

/// Parses `a::b::{c, d::e}` into paths [a, b, c] and [a, b, d, e]; returns the bytes read.
fn parse_tree(text: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let bytes = text.as_bytes();
    let mut path = prefix;
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            i += 1;
            loop {
                i += parse_tree(&text[i..], path.clone(), out);
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => return i + 1,
                    _ => return i,
                }
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if bytes.get(i) == Some(&b'}') {
                    return i + 1;
                }
            }
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if start == i {
            out.push(path);
            return i;
        }
        path.push(text[start..i].to_owned());
        if text[i..].starts_with("::") {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// The names a `mod.rs`/`lib.rs` re-exports from its children: name → child module.
fn re_exports(module: &ModPath, text: &str) -> BTreeMap<String, ModPath> {
    let mut out = BTreeMap::new();
    for statement in text.split(';') {
        let statement = statement.trim();
        let Some(rest) = statement
            .strip_prefix("pub use ")
            .or_else(|| statement.strip_prefix("pub(crate) use "))
        else {
            continue;
        };
        let rest = rest.strip_prefix("self::").unwrap_or(rest);
        let mut paths = Vec::new();
        parse_tree(rest, Vec::new(), &mut paths);
        for path in paths {
            if let (Some(child), Some(name)) = (path.first(), path.last()) {
                let mut target = module.clone();
                target.push(child.clone());
                out.insert(name.clone(), target);
            }
        }
    }
    out
}

/// The module a path names: its longest prefix that is a module, or the child a re-export of
/// that module points at.
fn resolve(
    path: &[String],
    modules: &BTreeMap<ModPath, (PathBuf, String)>,
    exports: &BTreeMap<ModPath, BTreeMap<String, ModPath>>,
) -> Option<ModPath> {
    let mut best = None;
    for len in (0..=path.len()).rev() {
        if modules.contains_key(&path[..len]) {
            best = Some(len);
            break;
        }
    }
    let len = best?;
    let module = path[..len].to_vec();
    if let Some(name) = path.get(len)
        && let Some(child) = exports.get(&module).and_then(|names| names.get(name))
        && modules.contains_key(child)
    {
        return Some(child.clone());
    }
    Some(module)
}

/// Module → the modules it imports (not itself, not its ancestors' declarations).
fn graph(src: &Path) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let modules = modules(src);
    let exports: BTreeMap<ModPath, BTreeMap<String, ModPath>> = modules
        .iter()
        .map(|(module, (_, text))| (module.clone(), re_exports(module, text)))
        .collect();
    let mut edges = BTreeMap::new();
    for (module, (file, text)) in &modules {
        let is_mod_file = file
            .file_name()
            .is_some_and(|name| name == "mod.rs" || name == "lib.rs");
        let mut targets = BTreeSet::new();
        for (kind, path) in named_paths(text) {
            let mut base: ModPath = match kind {
                "crate" => Vec::new(),
                "self" => module.clone(),
                _ if is_mod_file => module[..module.len().saturating_sub(1)].to_vec(),
                _ => module[..module.len() - 1].to_vec(),
            };
            let mut path = path.as_slice();
            while let Some(rest) = path.strip_prefix(&["super".to_owned()]) {
                base.pop();
                path = rest;
            }
            let absolute: ModPath = base.into_iter().chain(path.iter().cloned()).collect();
            if let Some(target) = resolve(&absolute, &modules, &exports)
                && &target != module
                && !(is_mod_file && kind == "self")
            {
                targets.insert(target);
            }
        }
        edges.insert(module.clone(), targets);
    }
    edges
}

/// The strongly connected components of more than one module (Tarjan).
fn cycles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        found: Vec<Vec<ModPath>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, node: &'a ModPath) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.edges.get(node).into_iter().flatten() {
                if !self.edges.contains_key(next) {
                    continue;
                }
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
                    component.push(top.clone());
                    if top == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.found
}

fn crate_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![root.join("src")];
    for entry in std::fs::read_dir(root.join("crates")).expect("read crates/") {
        let src = entry.expect("a crate").path().join("src");
        if src.is_dir() {
            sources.push(src);
        }
    }
    sources
}

#[test]
fn no_two_modules_import_each_other() {
    let mut report = Vec::new();
    for src in crate_sources() {
        let edges = graph(&src);
        for component in cycles(&edges) {
            let name = |module: &ModPath| format!("crate::{}", module.join("::"));
            let mut lines = vec![format!("in {}:", src.display())];
            for from in &component {
                for to in edges[from].iter().filter(|to| component.contains(to)) {
                    lines.push(format!("  {} -> {}", name(from), name(to)));
                }
            }
            report.push(lines.join("\n"));
        }
    }
    assert!(
        report.is_empty(),
        "modules that import each other (directly or in a loop):\n{}",
        report.join("\n")
    );
}

#[test]
fn the_reader_follows_paths_groups_and_re_exports() {
    let text =
        "use super::plan::{Plan, windows::{Evaluation, Error}};\nfn f() { crate::a::b::c(); }";
    let paths = named_paths(text);
    assert!(paths.contains(&("super", vec!["plan".into(), "Plan".into()])));
    assert!(paths.contains(&(
        "super",
        vec!["plan".into(), "windows".into(), "Evaluation".into()]
    )));
    assert!(paths.contains(&("crate", vec!["a".into(), "b".into(), "c".into()])));
    let exports = re_exports(
        &vec!["m".into()],
        "pub use error::{Error, Kind};\npub use x::Y;",
    );
    assert_eq!(exports["Kind"], vec!["m".to_owned(), "error".to_owned()]);
    assert_eq!(exports["Y"], vec!["m".to_owned(), "x".to_owned()]);
    // A loop of two is found; a one-way edge is not.
    let a: ModPath = vec!["a".into()];
    let b: ModPath = vec!["b".into()];
    let c: ModPath = vec!["c".into()];
    let edges = BTreeMap::from([
        (a.clone(), BTreeSet::from([b.clone()])),
        (b.clone(), BTreeSet::from([a.clone(), c.clone()])),
        (c.clone(), BTreeSet::new()),
    ]);
    assert_eq!(cycles(&edges), vec![vec![a, b]]);
}
