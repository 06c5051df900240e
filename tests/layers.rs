//! The crate's layers go one way (docs/ARCHITECTURE.md, "Layers"): each top-level module may use
//! only the modules below it, and the engine's value types only the engine's leaf modules. Read
//! from the source, so an import that turns an edge around fails here.

use std::fs;
use std::path::{Path, PathBuf};

/// Bottom to top: a module may use the ones before it.
const ORDER: &[&str] =
    &["num", "glob", "cluster", "notify", "logging", "resp", "engine", "config", "scripting", "state", "commands", "server"];

/// The engine's value types (outside their `mod tracked`, the write seam's mutators, and tests) and
/// what they may use: leaf modules only, never `value`, `mutation`, `write` or `keyspace`.
const VALUE_TYPES: &[&str] = &["hash", "list", "set", "zset", "skiplist", "pack", "thin", "dense", "limits"];
const ENGINE_LEAVES: &[&str] = &["dense", "limits", "pack", "skiplist", "thin"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without `//` comments (doc links may name any module).
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    text.lines().map(|line| line.find("//").map_or(line, |at| &line[..at])).collect::<Vec<_>>().join("\n")
}

fn ident(text: &str) -> &str {
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    &text[..end]
}

/// The first path segments after `prefix` (`crate::`, `super::`), including those inside a
/// `prefix{a::b, c}` group.
fn uses<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        found.push(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(ident(rest));
        }
    }
    found
}

#[test]
fn top_level_modules_use_only_those_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        let Some(rank) = ORDER.iter().position(|m| *m == first) else {
            assert!(first == "lib" || first == "main", "{} is in no layer: add it to ORDER", relative.display());
            continue;
        };
        for used in uses(&code(file), "crate::") {
            if let Some(used_rank) = ORDER.iter().position(|m| *m == used) {
                if used_rank > rank {
                    wrong.push(format!("{} uses crate::{used}", relative.display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

#[test]
fn engine_value_types_use_only_leaf_modules() {
    let engine = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let mut wrong = Vec::new();
    for name in VALUE_TYPES {
        let code = code(&engine.join(format!("{name}.rs")));
        // The type itself: what precedes its seam mutators and its tests.
        let end = ["mod tracked", "#[cfg(test)]"].iter().filter_map(|marker| code.find(marker)).min().unwrap_or(code.len());
        for used in uses(&code[..end], "super::") {
            if !ENGINE_LEAVES.contains(&used) {
                wrong.push(format!("engine/{name}.rs uses super::{used}"));
            }
        }
        if code[..end].contains("crate::engine::") {
            wrong.push(format!("engine/{name}.rs uses crate::engine"));
        }
    }
    assert!(wrong.is_empty(), "value types above the leaves:\n{}", wrong.join("\n"));
}
