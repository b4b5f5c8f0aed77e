//! `runner history [-r A:B] [--graph]`: the revisions, newest first, as a list or as a drawn
//! graph (`--format dot` for Graphviz).

use std::collections::HashSet;

use serde::Serialize;

use super::output::{self, RevisionInfo};
use super::{Context, Format, UsageError};
use crate::revision::Repository;

/// List revisions, newest first
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only revisions from A to B (A:B, A:, :B; A and B are included)
    #[arg(short = 'r', long = "rev-range", value_name = "A:B")]
    range: Option<String>,
    /// Draw the graph of revisions
    #[arg(long)]
    graph: bool,
    /// Mark the revisions the database has applied (connects to it; a missing SQLite file has
    /// none)
    #[arg(short = 'i', long)]
    indicate_current: bool,
}

/// The revisions in range A:B.
pub(super) fn in_range(repo: &Repository, range: Option<&str>) -> anyhow::Result<HashSet<String>> {
    let all: HashSet<String> = repo.graph.ordered().into_iter().collect();
    let Some(range) = range else {
        return Ok(all);
    };
    let (from, to) = range
        .split_once(':')
        .ok_or_else(|| UsageError(format!("-r takes A:B, got '{range}'")))?;
    let mut wanted = all;
    if !from.is_empty() && from != "base" {
        let from = repo.graph.resolve(from)?;
        wanted = wanted
            .intersection(&repo.graph.descendants(&from)?)
            .cloned()
            .collect();
    }
    if !to.is_empty() && to != "heads" {
        let to = repo.graph.resolve(to)?;
        wanted = wanted
            .intersection(&repo.graph.ancestors(&[to])?)
            .cloned()
            .collect();
    }
    Ok(wanted)
}

/// A line of lane glyphs: `|` on every lane, `glyph` on lane `mark`, and `/` or `\\` between
/// lanes where branches join or fork (git's layout: lanes on even columns).
fn lane_line(lanes: usize, mark: Option<(usize, char)>, joints: &[(usize, char)]) -> String {
    let mut cells = vec![' '; lanes * 2];
    for lane in 0..lanes {
        cells[lane * 2] = '|';
    }
    if let Some((lane, glyph)) = mark {
        cells[lane * 2] = glyph;
    }
    for &(lane, glyph) in joints {
        if lane > 0 {
            cells[lane * 2 - 1] = glyph;
            cells[lane * 2] = ' ';
        }
    }
    cells.into_iter().collect::<String>().trim_end().to_string()
}

/// Lines of an ASCII drawing of `ids` (newest first), one lane per open branch. A root (a
/// revision with no parents) is drawn `o`, and its lane ends with a gap, so that histories
/// with several roots are drawn apart and no revision seems to follow a root.
pub fn draw(repo: &Repository, ids: &[String], text: impl Fn(&str) -> String) -> Vec<String> {
    let shown: HashSet<&String> = ids.iter().collect();
    let mut lanes: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let positions: Vec<usize> = lanes
            .iter()
            .enumerate()
            .filter(|(_, waiting)| *waiting == id)
            .map(|(i, _)| i)
            .collect();
        let column = match positions.first() {
            Some(&first) => {
                if positions.len() > 1 {
                    let joints: Vec<(usize, char)> =
                        positions[1..].iter().map(|&p| (p, '/')).collect();
                    lines.push(lane_line(lanes.len(), None, &joints));
                    for &extra in positions[1..].iter().rev() {
                        lanes.remove(extra);
                    }
                }
                first
            }
            None => {
                lanes.push(id.clone());
                lanes.len() - 1
            }
        };
        let glyph = if repo.graph.parents(id).is_empty() {
            'o'
        } else {
            '*'
        };
        let row = lane_line(lanes.len(), Some((column, glyph)), &[]);
        lines.push(format!(
            "{row:<width$} {}",
            text(id),
            width = lanes.len() * 2
        ));
        let parents: Vec<String> = repo
            .graph
            .parents(id)
            .into_iter()
            .filter(|p| shown.contains(p))
            .collect();
        match parents.split_first() {
            None => {
                lanes.remove(column);
                if n + 1 < ids.len() {
                    lines.push(lane_line(lanes.len(), None, &[]));
                }
            }
            Some((first, rest)) => {
                lanes[column] = first.clone();
                for (offset, parent) in rest.iter().enumerate() {
                    lanes.insert(column + 1 + offset, parent.clone());
                }
                if !rest.is_empty() {
                    let joints: Vec<(usize, char)> = (1..=rest.len())
                        .map(|offset| (column + offset, '\\'))
                        .collect();
                    lines.push(lane_line(lanes.len(), None, &joints));
                }
            }
        }
    }
    lines
}

fn dot(repo: &Repository, ids: &[String], applied: &HashSet<String>) -> String {
    let shown: HashSet<&String> = ids.iter().collect();
    let mut out = String::from(
        "digraph runner {\n  rankdir=BT;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for id in ids {
        let Some(revision) = repo.get(id) else {
            continue;
        };
        let label = format!("{}\\n{}", id, revision.message.replace('"', "\\\""));
        let style = if applied.contains(id) {
            ", style=filled, fillcolor=\"#d8f0d8\""
        } else {
            ""
        };
        out.push_str(&format!("  \"{id}\" [label=\"{label}\"{style}];\n"));
        for parent in revision.parents.iter().filter(|p| shown.contains(p)) {
            out.push_str(&format!("  \"{id}\" -> \"{parent}\";\n"));
        }
        for dependency in revision.depends_on.iter().filter(|p| shown.contains(p)) {
            out.push_str(&format!("  \"{id}\" -> \"{dependency}\" [style=dashed];\n"));
        }
    }
    out.push_str("}\n");
    out
}

/// A revision in `--format json`; `applied` only with `-i`.
#[derive(Serialize)]
struct Entry {
    #[serde(flatten)]
    info: RevisionInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<bool>,
}

/// Prints the history.
pub async fn run(cx: &Context, args: &Args) -> anyhow::Result<i32> {
    let repo = cx.repository_headers()?;
    let wanted = in_range(&repo, args.range.as_deref())?;
    let mut ids: Vec<String> = repo.graph.sorted(&wanted)?;
    ids.reverse();
    let applied = if args.indicate_current {
        repo.graph.applied_from_rows(&cx.database_heads().await?)?
    } else {
        HashSet::new()
    };
    let text = |id: &str| {
        let Some(revision) = repo.get(id) else {
            return id.to_string();
        };
        let mut line = output::revision_line(&repo, revision);
        if !revision.depends_on.is_empty() {
            line.push_str(&format!(
                "  (depends on {})",
                revision.depends_on.join(", ")
            ));
        }
        if applied.contains(id) {
            line.push_str("  [applied]");
        }
        line
    };
    match cx.format {
        Format::Json => {
            let entries: Vec<Entry> = ids
                .iter()
                .filter_map(|id| repo.get(id))
                .map(|r| Entry {
                    info: RevisionInfo::new(&repo, r),
                    applied: args.indicate_current.then(|| applied.contains(&r.id)),
                })
                .collect();
            output::json(&entries)?;
        }
        Format::Dot => print!("{}", dot(&repo, &ids, &applied)),
        Format::Text if args.graph => {
            for line in draw(&repo, &ids, text) {
                println!("{line}");
            }
        }
        Format::Text => {
            for id in &ids {
                let parents = repo.graph.parents(id);
                let from = if parents.is_empty() {
                    "<base>".to_string()
                } else {
                    parents.join(", ")
                };
                println!("{from} -> {}", text(id));
            }
        }
    }
    Ok(0)
}
