//! The server's import graph has no circle (issue 14).
//!
//! Reads every `.rs` file under `server/src`, collects the `crate::…` and
//! `super::…` paths it names (in `use` lines and inline, including grouped
//! `{a, b::c}` imports), resolves each to the deepest module file it reaches,
//! and looks for strongly connected components. Two rules keep the graph
//! about architecture rather than syntax:
//!
//! - a module naming its own descendants (`agent` using `agent::run`) is
//!   containment, not an import: only a child reaching up or a module
//!   reaching sideways counts;
//! - comments (including doc links) and `#[cfg(test)]` modules are ignored:
//!   tests may reach anything.
//!
//! A failure lists every circle with the edges that make it, so the fix is
//! to move the named item down to a module both sides can use.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read server/src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `agent/run.rs` → `[agent, run]`; `agent/mod.rs` → `[agent]`; `lib.rs` → `[]`.
fn module_of(root: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(root).expect("under src");
    let mut parts: Module = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code without comments and without `#[cfg(test)]` items.
fn code_of(source: &str) -> String {
    let mut code = String::new();
    let mut skip_depth: Option<i32> = None;
    let mut depth = 0i32;
    let mut pending_cfg_test = false;
    for line in source.lines() {
        let trimmed = line.trim_start();
        let line = match line.find("//") {
            // `//` inside a string ("http://…") is rare in paths we care
            // about; cutting there only loses text after it.
            Some(i) => &line[..i],
            None => line,
        };
        if trimmed.starts_with("#[cfg(test)]") {
            pending_cfg_test = true;
            continue;
        }
        let opens = line.matches('{').count() as i32;
        let closes = line.matches('}').count() as i32;
        if pending_cfg_test && skip_depth.is_none() {
            pending_cfg_test = false;
            skip_depth = Some(depth);
        }
        depth += opens - closes;
        if let Some(start) = skip_depth {
            if depth <= start && (opens > 0 || closes > 0 || line.trim_end().ends_with(';')) {
                skip_depth = None;
            }
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Parses a path tail after `crate::`/`super::` (`rest`), pushing every full
/// path it names (expanding `{…}` groups, nested or not) onto `out`.
/// Returns how many characters it read.
fn paths_at(rest: &[char], prefix: &[String], out: &mut Vec<Module>) -> usize {
    let mut current: Module = prefix.to_vec();
    let mut i = 0;
    let skip_space = |i: &mut usize| {
        while *i < rest.len() && rest[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_space(&mut i);
        if i < rest.len() && rest[i] == '{' {
            // A group: each comma-separated item is a path below `current`.
            i += 1;
            loop {
                while i < rest.len() && (rest[i].is_whitespace() || rest[i] == ',') {
                    i += 1;
                }
                if i >= rest.len() || rest[i] == '}' {
                    return i + 1;
                }
                i += paths_at(&rest[i..], &current, out).max(1);
                // Skip `as alias` up to the next separator.
                while i < rest.len() && rest[i] != ',' && rest[i] != '}' {
                    i += 1;
                }
            }
        }
        let start = i;
        while i < rest.len() && is_ident(rest[i]) {
            i += 1;
        }
        let segment: String = rest[start..i].iter().collect();
        if !segment.is_empty() && segment != "self" {
            current.push(segment);
        }
        let mut j = i;
        while j < rest.len() && rest[j].is_whitespace() {
            j += 1;
        }
        if j + 1 < rest.len() && rest[j] == ':' && rest[j + 1] == ':' {
            i = j + 2;
            continue;
        }
        out.push(current);
        return i;
    }
}

fn references(module: &Module, code: &str) -> Vec<Module> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = code.char_indices().collect();
    for (k, &(at, _)) in chars.iter().enumerate() {
        let before = if k == 0 { ' ' } else { chars[k - 1].1 };
        if is_ident(before) || before == ':' {
            continue;
        }
        let rest = &code[at..];
        if let Some(tail) = rest.strip_prefix("crate::") {
            let tail: Vec<char> = tail.chars().take(2000).collect();
            paths_at(&tail, &[], &mut out);
        } else if rest.starts_with("super::") {
            let mut base: Module = module.clone();
            let mut tail = rest;
            while let Some(t) = tail.strip_prefix("super::") {
                base.pop();
                tail = t.trim_start();
            }
            let tail: Vec<char> = tail.chars().take(2000).collect();
            paths_at(&tail, &base, &mut out);
        }
    }
    out
}

/// The deepest module file a path reaches (`crate::agent::run::drive` →
/// `agent/run`).
fn resolve(path: &Module, modules: &BTreeSet<Module>) -> Module {
    for len in (0..=path.len()).rev() {
        if modules.contains(&path[..len].to_vec()) {
            return path[..len].to_vec();
        }
    }
    Vec::new()
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("/")
    }
}

/// Tarjan's strongly connected components with more than one module.
fn circles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<Module, usize>,
        low: BTreeMap<Module, usize>,
        stack: Vec<Module>,
        next: usize,
        found: Vec<Vec<Module>>,
    }
    fn visit(w: &mut Walk, v: &Module) {
        w.index.insert(v.clone(), w.next);
        w.low.insert(v.clone(), w.next);
        w.next += 1;
        w.stack.push(v.clone());
        let targets: Vec<Module> = w
            .edges
            .get(v)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for t in targets {
            if !w.index.contains_key(&t) {
                visit(w, &t);
                let low = w.low[v].min(w.low[&t]);
                w.low.insert(v.clone(), low);
            } else if w.stack.contains(&t) {
                let low = w.low[v].min(w.index[&t]);
                w.low.insert(v.clone(), low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            loop {
                let top = w.stack.pop().expect("on stack");
                let done = &top == v;
                component.push(top);
                if done {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    let nodes: Vec<Module> = edges.keys().cloned().collect();
    for v in nodes {
        if !walk.index.contains_key(&v) {
            visit(&mut walk, &v);
        }
    }
    walk.found
}

fn import_graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&root, &mut files);
    let sources: BTreeMap<Module, String> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("read source");
            (module_of(&root, f), code_of(&text))
        })
        .collect();
    let modules: BTreeSet<Module> = sources.keys().cloned().collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, code) in &sources {
        let entry = edges.entry(module.clone()).or_default();
        for path in references(module, code) {
            let target = resolve(&path, &modules);
            // Itself, or one of its own descendants: containment.
            if target.starts_with(module) {
                continue;
            }
            entry.insert(target);
        }
    }
    edges
}

#[test]
fn the_server_import_graph_has_no_circle() {
    let edges = import_graph();
    assert!(
        edges.len() > 30,
        "the graph should cover the whole server, found {} modules",
        edges.len()
    );
    let found = circles(&edges);
    let mut report = String::new();
    for component in &found {
        report.push_str(&format!("circle of {} modules:\n", component.len()));
        for m in component {
            let inside: Vec<String> = edges[m]
                .iter()
                .filter(|t| component.contains(t))
                .map(name)
                .collect();
            report.push_str(&format!("  {} -> {}\n", name(m), inside.join(", ")));
        }
    }
    assert!(found.is_empty(), "{report}");
}

/// The checker itself finds a circle when there is one (so a green test
/// above means something).
#[test]
fn the_checker_sees_circles_and_grouped_imports() {
    let a: Module = vec!["a".into()];
    let b: Module = vec!["b".into()];
    let c: Module = vec!["c".into(), "d".into()];
    let modules: BTreeSet<Module> = [a.clone(), b.clone(), vec!["c".into()], c.clone()]
        .into_iter()
        .collect();
    let code = code_of(
        "use crate::{b::Thing, c::d::{self, Other as O}};\n// crate::a in a comment\nfn f() { crate::b::g(); }\n#[cfg(test)]\nmod tests {\n    use crate::a::x;\n}\n",
    );
    let targets: BTreeSet<Module> = references(&a, &code)
        .iter()
        .map(|p| resolve(p, &modules))
        .collect();
    assert!(targets.contains(&b), "{targets:?}");
    assert!(targets.contains(&c), "{targets:?}");
    assert!(!targets.contains(&a), "comments and tests are not imports");

    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    edges.entry(a.clone()).or_default().insert(b.clone());
    edges.entry(b.clone()).or_default().insert(c.clone());
    edges.entry(c.clone()).or_default().insert(a.clone());
    assert_eq!(circles(&edges).len(), 1);
    edges.get_mut(&c).expect("c").clear();
    assert!(circles(&edges).is_empty());

    let child: Module = vec!["sandbox".into(), "process".into()];
    let refs = references(&child, &code_of("use super::backend::Spec;"));
    assert_eq!(
        refs,
        vec![vec!["sandbox".to_string(), "backend".into(), "Spec".into()]]
    );
}
