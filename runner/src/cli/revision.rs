//! `runner revision -m MSG`: a new, empty revision whose parent is the current head.

use anyhow::Context as _;

use super::{Context, Format, UsageError, output};
use crate::revision::write::{self, NewRevision};
use crate::revision::{Repository, load, target};

/// Write a new revision file whose parent is the current head (or --head)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the revision does
    #[arg(short, long)]
    message: String,
    /// The parent: a revision (a head unless --splice), or `base` for a new branch from base
    #[arg(long, value_name = "REV")]
    head: Option<String>,
    /// A branch label for the new revision (repeatable)
    #[arg(long = "branch-label", value_name = "LABEL")]
    branch_labels: Vec<String>,
    /// A revision that must be applied first without being a parent (repeatable)
    #[arg(long = "depends-on", value_name = "REV")]
    depends_on: Vec<String>,
    /// Allow --head to name a revision that is not a head, starting a branch from it
    #[arg(long)]
    splice: bool,
}

/// Writes the file.
pub fn run(cx: &Context, args: &Args) -> anyhow::Result<i32> {
    let repo = cx.repository()?;
    let graph = &repo.graph;
    let parents = match args.head.as_deref() {
        Some("base") => Vec::new(),
        Some(head) => {
            let id = graph.resolve(head)?;
            if !graph.children(&id).is_empty() && !args.splice {
                return Err(UsageError(format!(
                    "{id} is not a head; pass --splice to start a branch from it"
                ))
                .into());
            }
            vec![id]
        }
        None => target::only_head(graph)?,
    };
    let depends_on = args
        .depends_on
        .iter()
        .map(|dependency| graph.resolve(dependency))
        .collect::<Result<Vec<_>, _>>()?;
    write_new(
        cx,
        &repo,
        parents,
        depends_on,
        &args.message,
        &args.branch_labels,
    )
}

/// Writes a new revision file and reports it; shared with `merge`. The file's text is loaded
/// together with the project's revisions first, with the same checks as every other file
/// (branch labels included), so that nothing is written that would stop the next command.
pub(super) fn write_new(
    cx: &Context,
    repo: &Repository,
    parents: Vec<String>,
    depends_on: Vec<String>,
    message: &str,
    branch_labels: &[String],
) -> anyhow::Result<i32> {
    let revision = NewRevision {
        id: write::new_id(),
        parents,
        message: message.to_string(),
        created: chrono::Utc::now(),
        branch_labels: branch_labels.to_vec(),
        depends_on,
        upgrade: Vec::new(),
    };
    let text = write::render(&revision)?;
    let path = write::file_path(&cx.config.versions_dir(), &revision);
    load::parse(&path, &text)
        .and_then(|parsed| repo.with_revision(parsed))
        .context("the new revision would not load, so it was not written")?;
    write::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    match cx.format {
        Format::Json => output::json(&serde_json::json!({
            "revision": revision.id, "parents": revision.parents, "path": path.display().to_string(),
        }))?,
        _ => println!("{}", path.display()),
    }
    Ok(0)
}
