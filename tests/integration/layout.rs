//! The crate's layout as a checked property: no module of `src/` imports one that imports
//! it back (see issue 11: `states` and `trial` imported each other over `Plan`, `target`
//! and `wal` over `Durability`, `preflight` and `trial` over the machine checks). A cycle
//! makes the pipeline unreadable top to bottom; this test names it when one comes back.
//!
//! A module is a file of `src/` (`foo/mod.rs` is `foo`); it depends on the modules its code
//! names by `crate::` paths (in `use` lines, nested `use` groups and inline paths), and on
//! its parent's other children named by `super::`. Comments and unit-test modules do not
//! count: a doc link is not an import, and tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support;

type Module = Vec<String>;

fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<Module, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            let mut inner = prefix.to_vec();
            inner.push(name);
            modules(&path, &inner, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut module = prefix.to_vec();
            if !matches!(name.as_str(), "mod" | "lib" | "main") {
                module.push(name);
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests may use anything; a cycle through them is no cycle of the crate.
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            out.entry(module).or_default().push_str(&code);
        }
    }
}

/// The longest prefix of `path` that is a module.
fn resolve(path: &[String], known: &BTreeMap<Module, String>) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|k| path[..k].to_vec())
        .find(|m| known.contains_key(m))
}

/// Every `crate::a::b` path in `code`, with `use crate::{a::b, c}` groups expanded one
/// level, as lists of names.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let path: Vec<String> = item
                    .trim()
                    .split("::")
                    .map(|p| p.trim().to_owned())
                    .take_while(|p| !p.is_empty() && p.chars().all(ident))
                    .collect();
                if !path.is_empty() {
                    paths.push(path);
                }
            }
            continue;
        }
        let mut path = Vec::new();
        let mut tail = rest;
        loop {
            let len = tail.find(|c: char| !ident(c)).unwrap_or(tail.len());
            if len == 0 {
                break;
            }
            path.push(tail[..len].to_owned());
            match tail[len..].strip_prefix("::") {
                Some(next) => tail = next,
                None => break,
            }
        }
        if !path.is_empty() {
            paths.push(path);
        }
    }
    paths
}

fn dependencies(known: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut deps = BTreeMap::new();
    for (module, code) in known {
        let mut to: BTreeSet<Module> = crate_paths(code)
            .iter()
            .filter_map(|p| resolve(p, known))
            .collect();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("super::") {
            rest = &rest[at + "super::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let mut path = module[..module.len().saturating_sub(1)].to_vec();
            path.push(name);
            to.extend(resolve(&path, known));
        }
        to.remove(module);
        deps.insert(module.clone(), to);
    }
    deps
}

/// A cycle through `from`, if there is one: the modules on it, `from` first.
fn cycle_through(from: &Module, deps: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    let mut stack = vec![(from.clone(), vec![from.clone()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in &deps[&at] {
            if next == from {
                return Some(path);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn r11_no_module_imports_one_that_imports_it_back() {
    let mut known = BTreeMap::new();
    modules(&support::root().join("src"), &[], &mut known);
    assert!(known.len() > 40, "found {} modules", known.len());
    let deps = dependencies(&known);
    // The checker itself: report, for one, depends on what it renders.
    assert!(
        deps[&vec!["report".to_owned(), "lines".to_owned()]].contains(&vec!["trial".to_owned()])
    );
    let name = |m: &Module| {
        if m.is_empty() {
            "crate".to_owned()
        } else {
            m.join("::")
        }
    };
    let cycles: Vec<String> = known
        .keys()
        .filter_map(|m| cycle_through(m, &deps))
        .map(|c| c.iter().map(name).collect::<Vec<_>>().join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}
