//! `runner merge REV REV... -m MSG`: a revision joining branches.

use super::{Context, UsageError};

/// Write a merge revision whose parents are the given revisions
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revisions to join (`heads` for all heads)
    #[arg(required = true, value_name = "REV")]
    revisions: Vec<String>,
    /// What the merge is for
    #[arg(short, long)]
    message: String,
    /// A branch label for the merge revision
    #[arg(long = "branch-label", value_name = "LABEL")]
    branch_labels: Vec<String>,
}

/// Writes the file.
pub fn run(cx: &Context, args: &Args) -> anyhow::Result<i32> {
    let repo = cx.repository()?;
    let mut parents = Vec::new();
    for text in &args.revisions {
        let ids = if text == "heads" {
            repo.graph.heads()
        } else {
            vec![repo.graph.resolve(text)?]
        };
        for id in ids {
            if !parents.contains(&id) {
                parents.push(id);
            }
        }
    }
    if parents.len() < 2 {
        return Err(UsageError("a merge needs at least two different revisions".into()).into());
    }
    for parent in &parents {
        let others: Vec<String> = parents.iter().filter(|p| *p != parent).cloned().collect();
        if repo.graph.ancestors(&others)?.contains(parent) {
            return Err(UsageError(format!(
                "{parent} is already an ancestor of another revision being merged"
            ))
            .into());
        }
    }
    super::revision::write_new(
        cx,
        &repo,
        parents,
        Vec::new(),
        &args.message,
        &args.branch_labels,
        crate::autogen::Proposal::default(),
    )
    .map(|_| 0)
}
