//! The source tree's shape, checked on every test run: no import circles between the files of
//! a crate, and no source file past the length at which it stops having one concern.
//!
//! A circle is two files that `use` each other, directly or around a loop. A file using its
//! parent or another ancestor module is not an edge: `mod.rs` composes its children, and the
//! children build on what it declares. Paths are read from `use` items (braces expanded) and
//! from qualified paths in code (`crate::a::b`, `super::x`, `child::y`), each resolved to the
//! file that defines the longest module prefix it names. Inline `#[cfg(test)] mod tests`
//! blocks are left out: they are part of their own file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest source file allowed outside tests and generated vectors: past it a file is doing
/// more than one thing (ARCHITECTURE.md).
const MAX_SOURCE_LINES: usize = 700;

/// The crates whose `src/` is checked for circles.
const CRATES: &[&str] = &["protocol", "relay", "client-cli", "bench", "tests"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

fn files_under(dir: &Path, ext: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "node_modules") {
                continue;
            }
            files_under(&path, ext, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ext.contains(&e))
        {
            out.push(path);
        }
    }
}

/// Module path of a file under `src`: `a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs` and
/// `main.rs` are the crate root.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut segs: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if segs.last().is_some_and(|s| s == "mod") {
        segs.pop();
    }
    if segs == ["lib"] || segs == ["main"] {
        segs.clear();
    }
    segs
}

/// The file's code without line comments and without its inline test module.
fn code_of(text: &str) -> String {
    let cut = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..cut]
        .lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        out.push(format!("{prefix}{path}"));
        return;
    };
    let head = format!("{prefix}{}", &tree[..open]);
    let close = tree.rfind('}').filter(|&c| c > open).unwrap_or(tree.len());
    let body = &tree[open + 1..close];
    let (mut depth, mut part) = (0, String::new());
    let mut parts = Vec::new();
    for ch in body.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut part));
                continue;
            }
            _ => {}
        }
        part.push(ch);
    }
    parts.push(part);
    for p in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        if p == "self" {
            out.push(head.trim_end_matches(':').to_owned());
        } else {
            expand(p, &head, out);
        }
    }
}

/// Every path the code names: `use` trees and qualified paths (`x::y`) in expressions.
fn paths_in(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        let after = &rest[at + 3..];
        let end = after.find(';').unwrap_or(after.len());
        let tree = after[..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace(":: ", "::")
            .replace("{ ", "{")
            .replace(" }", "}")
            .replace(", ", ",");
        expand(&tree, "", &mut out);
        rest = &after[end..];
    }
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts = is_ident(bytes[i])
            && (i == 0 || (!is_ident(bytes[i - 1]) && bytes[i - 1] != b':'))
            && !bytes[i].is_ascii_digit();
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut segments = 0;
        loop {
            while j < bytes.len() && is_ident(bytes[j]) {
                j += 1;
            }
            if code[j..].starts_with("::") && bytes.get(j + 2).copied().is_some_and(is_ident) {
                j += 2;
                segments += 1;
            } else {
                break;
            }
        }
        if segments > 0 {
            out.push(code[i..j].to_owned());
        }
        i = j.max(i + 1);
    }
    out
}

fn find_word(s: &str, word: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(at) = s[from..].find(word).map(|a| a + from) {
        let before = at.checked_sub(1).map(|b| bytes[b]);
        let after = bytes.get(at + word.len()).copied();
        let boundary = |b: Option<u8>| b.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_'));
        if boundary(before) && after.is_some_and(|b| b.is_ascii_whitespace()) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The file (as its module path) a path names, if it names one of this crate's modules.
fn resolve(path: &str, here: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let segs: Vec<&str> = path.split("::").collect();
    let (mut full, rest): (Vec<String>, &[&str]) = match segs[0] {
        "crate" => (Vec::new(), &segs[1..]),
        "super" | "self" => {
            let mut base = here.to_vec();
            let mut k = 0;
            while k < segs.len() && (segs[k] == "super" || segs[k] == "self") {
                if segs[k] == "super" {
                    base.pop();
                }
                k += 1;
            }
            (base, &segs[k..])
        }
        child => {
            let mut candidate = here.to_vec();
            candidate.push(child.to_owned());
            if !modules.contains(&candidate) {
                return None;
            }
            (here.to_vec(), &segs[..])
        }
    };
    full.extend(rest.iter().map(|s| (*s).to_owned()));
    (0..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|m| modules.contains(m))
}

/// Import edges between the files of the crate whose sources are under `src`.
fn edges(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    files_under(src, &["rs"], &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let here = module_of(src, file);
        let text = std::fs::read_to_string(file).expect("read source file");
        let mut targets = BTreeSet::new();
        for path in paths_in(&code_of(&text)) {
            if let Some(to) = resolve(&path, &here, &modules)
                && to != here
                && !here.starts_with(&to)
            {
                targets.insert(to);
            }
        }
        graph.insert(here, targets);
    }
    graph
}

/// Groups of two or more files that reach each other (strongly connected components).
fn circles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    let reach = |from: &Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(node) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<_, _> = graph.keys().map(|k| (k.clone(), reach(k))).collect();
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    for (node, reached) in &reaches {
        let mut group: Vec<String> = reached
            .iter()
            .filter(|other| *other != node && reaches[*other].contains(node))
            .map(|m| m.join("::"))
            .collect();
        if !group.is_empty() {
            group.push(node.join("::"));
            group.sort();
            found.insert(group);
        }
    }
    found.into_iter().collect()
}

#[test]
fn no_import_circles_between_files() {
    let mut report = Vec::new();
    for krate in CRATES {
        let src = root().join(krate).join("src");
        if src.is_dir() {
            for group in circles(&edges(&src)) {
                report.push(format!("{krate}: {}", group.join(" <-> ")));
            }
        }
    }
    assert!(report.is_empty(), "import circles:\n{}", report.join("\n"));
}

#[test]
fn no_source_file_is_too_long() {
    let root = root();
    let mut files = Vec::new();
    for krate in CRATES {
        files_under(&root.join(krate).join("src"), &["rs"], &mut files);
    }
    files_under(&root.join("web"), &["js", "css", "html"], &mut files);
    let web_tests = root.join("web").join("test");
    // Third-party modules, vendored as published (web/vendor/README.md).
    let vendored = root.join("web").join("vendor");
    let long: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&web_tests) && !f.starts_with(&vendored))
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).ok()?.lines().count();
            (lines > MAX_SOURCE_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "source files over {MAX_SOURCE_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_a_circle_and_ignores_a_parent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).expect("mkdir");
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\npub mod c;\n").expect("write");
    std::fs::write(src.join("a/mod.rs"), "mod kid;\nuse kid::K;\n").expect("write");
    std::fs::write(src.join("a/kid.rs"), "use super::A;\nuse crate::{c::C};\n").expect("write");
    std::fs::write(src.join("b.rs"), "fn f() { crate::c::g(); }\n").expect("write");
    std::fs::write(src.join("c.rs"), "use crate::b;\n// use crate::a;\n").expect("write");
    let graph = edges(src);
    assert_eq!(circles(&graph), vec![vec!["b".to_owned(), "c".to_owned()]]);
    let kid = vec!["a".to_owned(), "kid".to_owned()];
    assert_eq!(graph[&kid], BTreeSet::from([vec!["c".to_owned()]]));
}
