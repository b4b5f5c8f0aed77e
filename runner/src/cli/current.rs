//! `runner current`: the revisions the database is at; `runner status`: that, what is left to
//! apply, and whether a run left a revision half applied. Both exit 1 while one is.

use serde::Serialize;

use super::output::{self, RevisionInfo};
use super::{Context, Format};
use crate::exec::HalfApplied;
use crate::revision::Repository;

/// Show the revision(s) the database is at
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Show where the database is: its revisions, what is pending, and a half-applied revision
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

#[derive(Serialize)]
struct Current {
    database: String,
    heads: Vec<Head>,
    /// The tip of every applied branch, the heads included (see `Graph::effective_heads`).
    effective_heads: Vec<String>,
    /// Revisions a run left half applied (they block `upgrade` until resumed or repaired).
    half_applied: Vec<Blocked>,
}

/// A half-applied revision, for JSON.
#[derive(Serialize)]
struct Blocked {
    revision: String,
    direction: &'static str,
    status: crate::version_table::Status,
    steps_applied: i64,
    steps_total: i64,
    started_at: String,
    error: Option<String>,
    message: String,
}

impl Blocked {
    fn new(half: &HalfApplied) -> Self {
        Self {
            revision: half.revision.clone(),
            direction: half.direction.as_str(),
            status: half.status,
            steps_applied: half.steps_applied,
            steps_total: half.steps_total,
            started_at: half.started_at.clone(),
            error: half.error.clone(),
            message: half.to_string(),
        }
    }
}

/// One row of the version table: the revision's facts, or only its id where the revision files
/// no longer hold it (`known: false`).
#[derive(Serialize)]
struct Head {
    #[serde(flatten)]
    info: HeadInfo,
    known: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum HeadInfo {
    Known(RevisionInfo),
    Unknown { revision: String },
}

/// Prints the database's heads. Looking does not create a SQLite file: a missing one is a
/// database at base. Exits 1 while a revision is half applied.
pub async fn run(cx: &Context, _args: &Args) -> anyhow::Result<i32> {
    let repo = cx.repository_headers()?;
    let url = cx.config.database_url()?;
    let (rows, half) = cx.database_state(&repo).await?;
    let effective = effective_heads(&repo, &rows);
    match cx.format {
        Format::Json => output::json(&Current {
            database: url.to_string(),
            heads: heads_json(&repo, &rows),
            effective_heads: effective,
            half_applied: half.iter().map(Blocked::new).collect(),
        })?,
        _ => {
            print_heads(&repo, &rows);
            print_effective(&repo, &rows, &effective);
            print_blocked(&half);
        }
    }
    Ok(if half.is_empty() { 0 } else { 1 })
}

#[derive(Serialize)]
struct Status {
    database: String,
    heads: Vec<Head>,
    effective_heads: Vec<String>,
    /// Revisions `upgrade` would apply, in order.
    pending: Vec<String>,
    half_applied: Vec<Blocked>,
}

/// Prints where the database is and what `upgrade` would do; exits 1 while a revision is half
/// applied.
pub async fn status(cx: &Context, _args: &StatusArgs) -> anyhow::Result<i32> {
    let repo = cx.repository_headers()?;
    let url = cx.config.database_url()?;
    let (rows, half) = cx.database_state(&repo).await?;
    let applied = repo.graph.applied_from_rows(&rows)?;
    let heads = repo.graph.heads();
    let pending = repo.graph.upgrade_path(&applied, &heads)?;
    let effective = effective_heads(&repo, &rows);
    match cx.format {
        Format::Json => output::json(&Status {
            database: url.to_string(),
            heads: heads_json(&repo, &rows),
            effective_heads: effective,
            pending,
            half_applied: half.iter().map(Blocked::new).collect(),
        })?,
        _ => {
            println!("database: {url}");
            print_heads(&repo, &rows);
            print_effective(&repo, &rows, &effective);
            if pending.is_empty() {
                println!("up to date: no revision to apply");
            } else {
                println!(
                    "{} revision(s) to apply: {}",
                    pending.len(),
                    pending.join(", ")
                );
            }
            print_blocked(&half);
        }
    }
    Ok(if half.is_empty() { 0 } else { 1 })
}

fn heads_json(repo: &Repository, rows: &[String]) -> Vec<Head> {
    rows.iter()
        .map(|id| match repo.get(id) {
            Some(revision) => Head {
                info: HeadInfo::Known(RevisionInfo::new(repo, revision)),
                known: true,
            },
            None => Head {
                info: HeadInfo::Unknown {
                    revision: id.clone(),
                },
                known: false,
            },
        })
        .collect()
}

fn print_heads(repo: &Repository, rows: &[String]) {
    if rows.is_empty() {
        println!("base (no revision applied)");
    }
    for id in rows {
        match repo.get(id) {
            Some(revision) => println!("{}", output::revision_line(repo, revision)),
            None => println!(
                "{id} (not among the revision files in {})",
                repo.dir.display()
            ),
        }
    }
}

/// The branch tips the rows stand for; only the rows when some are unknown to the files.
fn effective_heads(repo: &Repository, rows: &[String]) -> Vec<String> {
    repo.graph
        .effective_heads(rows)
        .unwrap_or_else(|_| rows.to_vec())
}

/// The effective heads that are not rows, each with the revision that depends on it.
fn print_effective(repo: &Repository, rows: &[String], effective: &[String]) {
    for id in effective.iter().filter(|id| !rows.contains(id)) {
        let Some(revision) = repo.get(id) else {
            continue;
        };
        let by: Vec<&str> = rows
            .iter()
            .filter(|row| {
                repo.graph
                    .ancestors(std::slice::from_ref(*row))
                    .is_ok_and(|a| a.contains(id))
            })
            .map(String::as_str)
            .collect();
        println!(
            "{} (effective head: {} depends on it) {}",
            revision.id,
            by.join(", "),
            revision.message
        );
    }
}

fn print_blocked(half: &[HalfApplied]) {
    for half in half {
        println!("blocked: {half}");
    }
}
