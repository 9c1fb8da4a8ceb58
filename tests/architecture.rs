//! The house rules of docs/ARCHITECTURE.md, checked on the source: no module circles inside a
//! crate, and crate dependencies pointing inward to twin-core.
//!
//! A module circle is a loop of `use` paths between files that are not each other's ancestors
//! (a child using its parent's items, and a parent re-exporting its children's, are structure,
//! not a circle). Paths are read as text: `use crate::…`, `use super::…` (braces expanded) and
//! `crate::…` paths in code; what follows a `#[cfg(test)]` line is left out, as unit tests sit
//! at the end of their file and look at its insides.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 5] = ["twin-core", "actors", "scenarios", "viewer-ws", "."];

/// A module path (`["twin", "pipeline"]`) for each source file of a crate.
fn modules_of(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .expect("source folder")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("inside src");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            out.insert(parts, path);
        }
    }
    out
}

/// Expand a `use` tree (`a::{b::C, d}`) into whole paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand(&format!("{prefix}{}", p.trim())))
        .collect()
}

/// The module paths a file's code names: `use` trees and inline `crate::` paths.
fn paths_named(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    // `use` items start a line (after `pub`, `pub(crate)`, …) and end at the next `;`.
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        let t = t
            .strip_prefix("pub ")
            .or_else(|| t.strip_prefix("pub(crate) "))
            .or_else(|| t.strip_prefix("pub(super) "))
            .unwrap_or(t);
        let Some(first) = t.strip_prefix("use ") else {
            continue;
        };
        let mut item = first.to_string();
        while !item.contains(';') {
            match lines.next() {
                Some(more) => item.push_str(more),
                None => break,
            }
        }
        let tree: String = item
            .split(';')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let tree: String = tree.split(" as ").next().unwrap_or("").replace(' ', "");
        out.extend(expand(&tree));
    }
    let bytes = code.as_bytes();
    for root in ["crate::", "super::"] {
        let mut i = 0;
        while let Some(k) = code[i..].find(root) {
            let s = i + k;
            let boundary = s == 0
                || !(bytes[s - 1].is_ascii_alphanumeric()
                    || bytes[s - 1] == b'_'
                    || bytes[s - 1] == b':');
            let e = code[s..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |n| s + n);
            if boundary && !code[..s].ends_with("use ") {
                out.push(code[s..e].trim_end_matches(':').to_string());
            }
            i = e.max(s + root.len());
        }
    }
    out
}

/// The file a path lands in: its longest prefix that is a module.
fn resolve(
    path: &str,
    from: &[String],
    modules: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segs.first().copied() {
        Some("crate") => Vec::new(),
        Some("self") => from.to_vec(),
        Some("super") => from.to_vec(),
        // `use child::Item` names a child module of this one.
        Some(first) if modules.contains_key(&[from, &[first.to_string()]].concat()) => {
            from.to_vec()
        }
        _ => return None,
    };
    while segs.first() == Some(&"super") {
        base.pop();
        segs.remove(0);
    }
    if matches!(segs.first().copied(), Some("crate" | "self")) {
        segs.remove(0);
    }
    let mut best = None;
    let mut cur = base.clone();
    if modules.contains_key(&cur) {
        best = Some(cur.clone());
    }
    for s in segs {
        cur.push(s.to_string());
        if modules.contains_key(&cur) {
            best = Some(cur.clone());
        }
    }
    best
}

/// Circles among a crate's files, each as the list of its files.
fn circles(src: &Path) -> Vec<Vec<String>> {
    let modules = modules_of(src);
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).expect("source file");
        for path in paths_named(&text) {
            let Some(target) = resolve(&path, module, &modules) else {
                continue;
            };
            // A module and its ancestors belong together; only other branches make circles.
            if target == *module || module.starts_with(&target) {
                continue;
            }
            edges.entry(module.clone()).or_default().insert(target);
        }
    }
    // Tarjan's strongly connected components (recursive: module graphs are shallow).
    struct Tarjan<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<Vec<String>, (usize, usize)>,
        stack: Vec<Vec<String>>,
        on_stack: BTreeSet<Vec<String>>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: &Vec<String>) {
            self.index.insert(v.clone(), (self.next, self.next));
            self.next += 1;
            self.stack.push(v.clone());
            self.on_stack.insert(v.clone());
            let targets: Vec<Vec<String>> = self
                .edges
                .get(v)
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default();
            for w in targets {
                if !self.index.contains_key(&w) {
                    self.visit(&w);
                    let low_w = self.index[&w].1;
                    let e = self.index.get_mut(v).expect("visited");
                    e.1 = e.1.min(low_w);
                } else if self.on_stack.contains(&w) {
                    let idx_w = self.index[&w].0;
                    let e = self.index.get_mut(v).expect("visited");
                    e.1 = e.1.min(idx_w);
                }
            }
            let (idx, low) = self.index[v];
            if idx == low {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(&w);
                    let done = w == *v;
                    component.push(w.join("::"));
                    if done {
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
    let mut t = Tarjan {
        edges: &edges,
        index: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for m in modules.keys() {
        if !t.index.contains_key(m) {
            t.visit(m);
        }
    }
    t.found
}

#[test]
fn no_crate_has_a_module_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for krate in CRATES {
        for c in circles(&root.join(krate).join("src")) {
            all.push(format!("{krate}: {}", c.join(" ↔ ")));
        }
    }
    assert!(all.is_empty(), "module circles:\n{}", all.join("\n"));
}

#[test]
fn the_circle_check_finds_a_circle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).expect("dirs");
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").expect("lib");
    std::fs::write(src.join("a/mod.rs"), "pub mod x;\nuse crate::b::Thing;\n").expect("a");
    std::fs::write(
        src.join("a/x.rs"),
        "use super::super::b;\n#[cfg(test)]\nmod tests { use crate::c::X; }\n",
    )
    .expect("x");
    std::fs::write(
        src.join("b.rs"),
        "use crate::{a::{x::Y, Z}};\npub struct Thing;\n",
    )
    .expect("b");
    let found = circles(src);
    assert_eq!(
        found,
        vec![vec!["a".to_string(), "a::x".into(), "b".into()]]
    );
}

/// Crate names a crate's Cargo.toml depends on among the workspace's own.
fn internal_dependencies(krate: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(krate).join("Cargo.toml")).expect("manifest");
    let deps = text
        .split("\n[")
        .find(|s| s.starts_with("dependencies]"))
        .unwrap_or("");
    [
        "twin-core",
        "twin-actors",
        "twin-scenarios",
        "twin-viewer-ws",
    ]
    .into_iter()
    .filter(|name| deps.lines().any(|l| l.trim_start().starts_with(name)))
    .map(String::from)
    .collect()
}

#[test]
fn crate_dependencies_point_inward() {
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(internal_dependencies("twin-core"), set(&[]));
    assert_eq!(internal_dependencies("scenarios"), set(&["twin-core"]));
    assert_eq!(internal_dependencies("actors"), set(&["twin-core"]));
    assert_eq!(
        internal_dependencies("viewer-ws"),
        set(&["twin-core", "twin-actors", "twin-scenarios"])
    );
}
