//! `runner heads` and `runner branches`: the tips and the forks of the revision graph.

use serde::Serialize;

use super::output::{self, RevisionInfo};
use super::{Context, Format};

/// Show the heads of the revision graph
#[derive(Debug, clap::Args)]
pub struct HeadsArgs {}

/// Show where the revision graph branches
#[derive(Debug, clap::Args)]
pub struct BranchesArgs {}

/// Prints the heads.
pub fn heads(cx: &Context, _args: &HeadsArgs) -> anyhow::Result<i32> {
    let repo = cx.repository_headers()?;
    let heads: Vec<_> = repo
        .graph
        .heads()
        .iter()
        .filter_map(|id| repo.get(id))
        .collect();
    match cx.format {
        Format::Json => {
            let infos: Vec<RevisionInfo> =
                heads.iter().map(|r| RevisionInfo::new(&repo, r)).collect();
            output::json(&infos)?;
        }
        _ => {
            for revision in heads {
                println!("{}", output::revision_line(&repo, revision));
            }
        }
    }
    Ok(0)
}

#[derive(Serialize)]
struct BranchPoint {
    #[serde(flatten)]
    info: RevisionInfo,
    children: Vec<RevisionInfo>,
}

/// Prints each branch point with its children.
pub fn branches(cx: &Context, _args: &BranchesArgs) -> anyhow::Result<i32> {
    let repo = cx.repository_headers()?;
    let points: Vec<BranchPoint> = repo
        .graph
        .branch_points()
        .iter()
        .filter_map(|id| repo.get(id))
        .map(|revision| BranchPoint {
            info: RevisionInfo::new(&repo, revision),
            children: repo
                .graph
                .children(&revision.id)
                .iter()
                .filter_map(|c| repo.get(c))
                .map(|c| RevisionInfo::new(&repo, c))
                .collect(),
        })
        .collect();
    match cx.format {
        Format::Json => output::json(&points)?,
        _ => {
            for point in points {
                if let Some(revision) = repo.get(&point.info.revision) {
                    println!("{}", output::revision_line(&repo, revision));
                }
                for child in point.children {
                    println!("  -> {} {}", child.revision, child.message);
                }
            }
        }
    }
    Ok(0)
}
