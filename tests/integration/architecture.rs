//! The house's rules, checked on the source: no two files of `src/` import each other in a
//! circle, and dependencies point one way (edge -> router -> front doors -> hub -> `sse`,
//! with `http`, `auth` and `config` below their users). A rough reader, not a compiler: it
//! follows `crate::` and `super::` paths in code before a file's first `#[cfg(test)]`
//! (unit tests may reach anywhere), and ignores comments.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// What each top-level module may import from the crate. A module not listed may import
/// anything but what `NEVER_IMPORTED_BY` forbids.
const MAY_IMPORT: &[(&str, &[&str])] = &[
    // The bottom leaf: counters every layer may bump, importing nothing of the crate.
    ("metrics", &[]),
    // Operator files read with a bound: a leaf for everyone who reads one.
    ("files", &[]),
    // HTTP/2's wire format as plain data: frames and HPACK, no I/O.
    ("h2wire", &[]),
    // Threads that serve connections: runtimes and sockets, nothing of the crate.
    ("workers", &[]),
    ("sse", &["metrics"]),
    ("http", &["sse"]),
    ("auth", &["http", "files"]),
    ("config", &["http", "auth", "files"]),
    ("hub", &["sse", "config", "metrics"]),
    (
        "native",
        &["hub", "sse", "http", "auth", "config", "metrics"],
    ),
    (
        "mercure",
        &["hub", "sse", "http", "auth", "config", "metrics"],
    ),
    ("gateway", &["sse", "http", "config", "metrics"]),
    ("cluster", &["hub", "sse", "config", "metrics"]),
    ("demo", &[]),
    ("tls", &["config", "files"]),
    (
        "acme",
        &["tls", "certs", "http", "config", "metrics", "files"],
    ),
    // The admin listener reports; it reaches nothing it reports on.
    ("admin", &["metrics"]),
    (
        "router",
        &[
            "native", "mercure", "gateway", "demo", "hub", "http", "metrics",
        ],
    ),
];

/// Modules only the listed ones may import: the edge and the router sit on top.
const ONLY_IMPORTED_BY: &[(&str, &[&str])] = &[
    ("router", &["conn", "server"]),
    ("conn", &["server"]),
    ("server", &[]),
    ("native", &["router", "server"]),
    ("mercure", &["router", "server", "fuzzing"]),
    ("gateway", &["router", "server"]),
    ("cluster", &["server"]),
    ("acme", &["server"]),
    ("admin", &["server"]),
    ("h2wire", &["conn", "fuzzing"]),
    ("workers", &["server"]),
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every library source file, as its module path (`hub/router.rs` -> `["hub", "router"]`).
/// The binary's files (`main.rs`, `cli`) are not the library's.
fn library_files() -> BTreeMap<Vec<String>, PathBuf> {
    let mut files = BTreeMap::new();
    let mut dirs = vec![src_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src_dir()).unwrap().with_extension("");
            let mut module: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            if module.first().is_some_and(|m| m == "main" || m == "cli") {
                continue;
            }
            files.insert(module, path);
        }
    }
    files
}

/// The code of a file that counts: before `#[cfg(test)]`, without comments.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands a use tree (`a::{b, c::{d}}`) into flat paths.
fn expand(prefix: &[String], tree: &str) -> Vec<Vec<String>> {
    let Some(open) = tree.find('{') else {
        let mut path = prefix.to_vec();
        path.extend(
            tree.split("::")
                .filter(|s| !s.is_empty() && *s != "self" && *s != "*")
                .map(str::to_owned),
        );
        return vec![path];
    };
    let mut base = prefix.to_vec();
    base.extend(
        tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    );
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.extend(expand(&base, inner[start..i].trim()));
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = inner[start..].trim();
    if !last.is_empty() {
        out.extend(expand(&base, last));
    }
    if out.is_empty() {
        out.push(base);
    }
    out
}

/// The module paths a file names through `crate::`, `super::` and `self::`, in `use` lines
/// and inline, resolved from the file's own module.
fn paths(module: &[String], code: &str) -> Vec<Vec<String>> {
    let uses = regex::Regex::new(r"\buse\s+((?:crate|super|self)::[^;]*);").unwrap();
    let inline = regex::Regex::new(r"\b(?:crate|super)(?:::\w+)+").unwrap();
    let renames = regex::Regex::new(r"\s+as\s+\w+").unwrap();
    let mut raw: Vec<Vec<String>> = Vec::new();
    for m in uses.captures_iter(code) {
        let tree: String = renames
            .replace_all(&m[1], "")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        raw.extend(expand(&[], &tree));
    }
    for m in inline.find_iter(code) {
        raw.push(m.as_str().split("::").map(str::to_owned).collect());
    }
    raw.into_iter()
        .filter_map(|path| {
            let (first, rest) = path.split_first()?;
            match first.as_str() {
                "crate" => Some(rest.to_vec()),
                "super" | "self" => {
                    let mut base = module.to_vec();
                    let mut k = 0;
                    while k < path.len() && (path[k] == "super" || path[k] == "self") {
                        if path[k] == "super" {
                            base.pop();
                        }
                        k += 1;
                    }
                    base.extend_from_slice(&path[k..]);
                    Some(base)
                }
                _ => None,
            }
        })
        .collect()
}

/// The file a module path names: its longest prefix that is a file.
fn file_of<'a>(
    files: &'a BTreeMap<Vec<String>, PathBuf>,
    path: &[String],
) -> Option<&'a Vec<String>> {
    (1..=path.len())
        .rev()
        .find_map(|n| files.get_key_value(&path[..n]).map(|(k, _)| k))
}

fn imports() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files = library_files();
    let mut graph = BTreeMap::new();
    for (module, path) in &files {
        let mut targets = BTreeSet::new();
        for p in paths(module, &code(path)) {
            if let Some(target) = file_of(&files, &p) {
                if target != module {
                    targets.insert(target.clone());
                }
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

#[test]
fn no_two_source_files_import_each_other_in_a_circle() {
    let graph = imports();
    assert!(graph.len() > 50, "the reader found the sources");
    // Depth-first search; a back edge is a circle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: BTreeMap<&Vec<String>, Mark> = BTreeMap::new();
    let mut circles = Vec::new();
    fn visit<'a>(
        node: &'a Vec<String>,
        graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        marks: &mut BTreeMap<&'a Vec<String>, Mark>,
        stack: &mut Vec<&'a Vec<String>>,
        circles: &mut Vec<String>,
    ) {
        marks.insert(node, Mark::Open);
        stack.push(node);
        for next in &graph[node] {
            match marks.get(next) {
                Some(Mark::Open) => {
                    let from = stack.iter().position(|n| *n == next).unwrap_or(0);
                    let names: Vec<String> = stack[from..].iter().map(|m| m.join("/")).collect();
                    circles.push(names.join(" -> "));
                }
                Some(Mark::Done) => {}
                None => visit(next, graph, marks, stack, circles),
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
    }
    for node in graph.keys() {
        if !marks.contains_key(node) {
            visit(node, &graph, &mut marks, &mut Vec::new(), &mut circles);
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn dependencies_point_one_way() {
    let graph = imports();
    let mut wrong = Vec::new();
    for (module, targets) in &graph {
        // lib.rs (the empty path) declares the modules; it imports none.
        let Some(from) = module.first() else {
            continue;
        };
        for target in targets {
            let to = &target[0];
            if from == to {
                continue;
            }
            if let Some((_, allowed)) = MAY_IMPORT.iter().find(|(m, _)| m == from) {
                if !allowed.contains(&to.as_str()) {
                    wrong.push(format!("{} imports {}", module.join("/"), target.join("/")));
                }
            }
            if let Some((_, by)) = ONLY_IMPORTED_BY.iter().find(|(m, _)| m == to) {
                if !by.contains(&from.as_str()) {
                    wrong.push(format!("{} imports {}", module.join("/"), target.join("/")));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
