//! The top-level modules of `runner/src` form a DAG: no module reaches itself through the
//! `crate::<module>` paths its files use (in `use` lines, `use crate::{a, b::{c}}` groups and
//! paths in code alike). A cycle means a shared item lives too high; docs/architecture.md says
//! which module may use which. Comments, doc comments and string literals are not code, so
//! they are left out; `super::` paths never leave a top-level module in runner and are not read.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// Module -> modules it uses -> where it first uses each (`path:line`).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

#[test]
fn runner_has_no_module_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runner/src");
    let graph = module_graph(&src);
    // A walk that found nothing would pass; these edges exist as long as the layering does.
    assert!(
        graph.len() > 10,
        "only {:?} found in {}",
        graph.keys(),
        src.display()
    );
    for (from, to) in [("dialect", "model"), ("ops", "dialect"), ("exec", "db")] {
        assert!(
            graph.get(from).is_some_and(|uses| uses.contains_key(to)),
            "{from} -> {to} not found: {graph:#?}"
        );
    }
    let found = cycles(&graph);
    assert!(found.is_empty(), "{}", report(&graph, &found));
}

#[test]
fn module_cycles_are_found_and_named() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph = Graph::new();
        for (from, to) in edges {
            graph.entry(to.to_string()).or_default();
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string(), format!("{from}.rs:1"));
        }
        graph
    };
    let dag = [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d")];
    assert_eq!(cycles(&graph(&dag)), Vec::<String>::new());

    let one = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "a")];
    assert_eq!(cycles(&graph(&one)), ["a -> b -> c -> a"]);

    // Two components; in the first, each member's shortest cycle, once.
    let two = [
        ("m", "n"),
        ("n", "m"),
        ("n", "o"),
        ("o", "m"),
        ("x", "y"),
        ("y", "x"),
        ("y", "z"),
    ];
    let found = cycles(&graph(&two));
    assert_eq!(found, ["m -> n -> m", "m -> n -> o -> m", "x -> y -> x"]);
    let message = report(&graph(&two), &found);
    assert!(message.contains("  m -> n -> m\n"), "{message}");
    assert!(message.contains("o -> m at o.rs:1"), "{message}");
}

#[test]
fn module_cycles_edges_come_from_code_not_comments_or_strings() {
    let code = code_only(
        r##"//! crate::doc_inner
/// crate::doc_outer
use crate::{a::{x, y::{z}}, b as _, self};
use crate::c::D; // crate::line_comment
/* crate::block /* nested crate::inner */ still crate::block */
fn f<'l>(s: &'l str) -> char {
    let _ = "crate::in_string \" crate::escaped";
    let _ = r#"crate::raw " crate::raw_still"#;
    let _ = b"crate::bytes";
    let _ = '"';
    crate::e::call(); pub(crate) struct S; pub(in crate::own) struct T;
    '\''
}
let _ = crate :: f;
"##,
    );
    let names: Vec<_> = references(&code).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a", "b", "self", "c", "e", "own", "f"]);
    let lines: Vec<_> = references(&code).into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines, [3, 3, 3, 4, 11, 11, 14]);
}

/// The graph of `src`'s top-level modules (`foo.rs` or `foo/`; `lib.rs` and `main.rs` are the
/// crate root, not modules), edges to themselves left out.
fn module_graph(src: &Path) -> Graph {
    let mut trees: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in read_dir(src) {
        let name = entry
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string);
        let module = match name {
            Some(name) if entry.is_dir() => name,
            Some(name) if name != "lib.rs" && name != "main.rs" => match name.strip_suffix(".rs") {
                Some(stem) => stem.to_string(),
                None => continue,
            },
            _ => continue,
        };
        trees.entry(module).or_default().push(entry);
    }
    let mut graph = Graph::new();
    for (module, roots) in &trees {
        let uses = graph.entry(module.clone()).or_default();
        for file in roots.iter().flat_map(|root| rust_files(root)) {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            let shown = file
                .strip_prefix(src)
                .unwrap_or(&file)
                .display()
                .to_string();
            for (name, line) in references(&code_only(&text)) {
                if &name != module && trees.contains_key(&name) {
                    uses.entry(name)
                        .or_insert_with(|| format!("runner/src/{shown}:{line}"));
                }
            }
        }
    }
    graph
}

/// The entries of a folder, sorted so that messages do not change from run to run.
fn read_dir(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut paths: Vec<_> = entries
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    paths.sort();
    paths
}

/// The `.rs` files under `root` (itself, if it is one).
fn rust_files(root: &Path) -> Vec<PathBuf> {
    if !root.is_dir() {
        return vec![root.to_path_buf()];
    }
    let mut files = Vec::new();
    for path in read_dir(root) {
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// `text` with its comments (line, doc and nested block comments), string literals (plain,
/// byte and raw) and char literals blanked out, newlines kept so that lines still count.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, from: usize, to: usize| {
        let end = to.min(chars.len());
        for &c in &chars[from.min(end)..end] {
            out.push(if c == '\n' { '\n' } else { ' ' });
        }
    };
    let mut i = 0;
    while let Some(c) = at(i) {
        let end = if c == '/' && at(i + 1) == Some('/') {
            (i..chars.len())
                .find(|&j| chars[j] == '\n')
                .unwrap_or(chars.len())
        } else if c == '/' && at(i + 1) == Some('*') {
            let (mut j, mut depth) = (i, 0);
            while j < chars.len() {
                match (chars[j], at(j + 1)) {
                    ('/', Some('*')) => (depth, j) = (depth + 1, j + 2),
                    ('*', Some('/')) => (depth, j) = (depth - 1, j + 2),
                    _ => j += 1,
                }
                if depth == 0 {
                    break;
                }
            }
            j
        } else if c == '"' {
            let mut j = i + 1;
            while let Some(d) = at(j) {
                j += if d == '\\' { 2 } else { 1 };
                if d == '"' {
                    break;
                }
            }
            j
        } else if c == 'r'
            && (!ident(i.checked_sub(1).and_then(at))
                || (at(i - 1) == Some('b') && !ident(i.checked_sub(2).and_then(at))))
            && matches!(at(i + 1), Some('"' | '#'))
        {
            let hashes = (i + 1..).take_while(|&j| at(j) == Some('#')).count();
            if at(i + 1 + hashes) != Some('"') {
                i += 1; // `r#ident`, a raw identifier.
                out.push(c);
                continue;
            }
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let body = i + 2 + hashes;
            (body..chars.len())
                .find(|&j| chars[j..].starts_with(&closing))
                .map_or(chars.len(), |j| j + closing.len())
        } else if c == '\'' && at(i + 1) == Some('\\') {
            (i + 3..chars.len())
                .find(|&j| chars[j] == '\'')
                .map_or(chars.len(), |j| j + 1)
        } else if c == '\'' && at(i + 2) == Some('\'') {
            i + 3
        } else {
            out.push(c);
            i += 1;
            continue;
        };
        blank(&mut out, i, end);
        i = end;
    }
    out
}

/// Each name that follows `crate::` in `code`, with its line: the first segment of a path, or
/// each first segment inside a `crate::{...}` group.
fn references(code: &str) -> Vec<(String, usize)> {
    let ident_char = |c: char| c.is_alphanumeric() || c == '_';
    let leading_ident = |s: &str| -> String { s.chars().take_while(|&c| ident_char(c)).collect() };
    let mut found = Vec::new();
    for (start, _) in code.match_indices("crate") {
        if code[..start].chars().next_back().is_some_and(ident_char) {
            continue;
        }
        let Some(rest) = code[start + "crate".len()..]
            .trim_start()
            .strip_prefix("::")
        else {
            continue;
        };
        let rest = rest.trim_start();
        let line = code[..start].matches('\n').count() + 1;
        let Some(group) = rest.strip_prefix('{') else {
            let name = leading_ident(rest);
            if !name.is_empty() {
                found.push((name, line));
            }
            continue;
        };
        let mut depth = 0;
        let mut segment_start = true;
        for (offset, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => segment_start = true,
                c if segment_start && !c.is_whitespace() => {
                    segment_start = false;
                    let name = leading_ident(&group[offset..]);
                    if !name.is_empty() {
                        let line = line + group[..offset].matches('\n').count();
                        found.push((name, line));
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// One line per cycle, `a -> b -> a`: for each strongly connected component, the shortest
/// cycle through each of its members, each cycle once (started at its smallest module).
fn cycles(graph: &Graph) -> Vec<String> {
    let reach = |from: &str| -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(node) = stack.pop() {
            for next in graph.get(node).into_iter().flat_map(|uses| uses.keys()) {
                if seen.insert(next.as_str()) {
                    stack.push(next);
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&str, BTreeSet<&str>> =
        graph.keys().map(|m| (m.as_str(), reach(m))).collect();
    let mut found = BTreeSet::new();
    for (&node, reached) in &reaches {
        if !reached.contains(node) {
            continue;
        }
        let component: BTreeSet<&str> = reached
            .iter()
            .copied()
            .filter(|other| reaches.get(other).is_some_and(|r| r.contains(node)))
            .collect();
        if let Some(mut cycle) = shortest_cycle(graph, node, &component) {
            let smallest = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
            cycle.rotate_left(smallest);
            cycle.push(cycle[0]);
            found.insert(cycle.join(" -> "));
        }
    }
    found.into_iter().collect()
}

/// The shortest path from `start` back to itself inside `component` (breadth first), without
/// repeating `start` at the end.
fn shortest_cycle<'g>(
    graph: &'g Graph,
    start: &'g str,
    component: &BTreeSet<&str>,
) -> Option<Vec<&'g str>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in graph.get(node).into_iter().flat_map(|uses| uses.keys()) {
            let next = next.as_str();
            if next == start {
                let mut path = vec![node];
                while let Some(&before) = came_from.get(path[path.len() - 1]) {
                    path.push(before);
                }
                path.reverse();
                return Some(path);
            }
            if component.contains(next) && !came_from.contains_key(next) {
                came_from.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    None
}

/// The failure message: each cycle, then where each of its edges comes from.
fn report(graph: &Graph, cycles: &[String]) -> String {
    let mut out = String::from(
        "runner/src has module cycles; move the shared item to the lower module \
         (docs/architecture.md, \"Module layering\"):\n",
    );
    for cycle in cycles {
        out.push_str(&format!("  {cycle}\n"));
        let modules: Vec<&str> = cycle.split(" -> ").collect();
        for pair in modules.windows(2) {
            if let Some(place) = graph.get(pair[0]).and_then(|uses| uses.get(pair[1])) {
                out.push_str(&format!("    {} -> {} at {place}\n", pair[0], pair[1]));
            }
        }
    }
    out
}
