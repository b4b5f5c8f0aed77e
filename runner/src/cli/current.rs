//! `runner current`: the revisions the database is at.

use serde::Serialize;

use super::output::{self, RevisionInfo};
use super::{Context, Format};

/// Show the revision(s) the database is at
#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Serialize)]
struct Current {
    database: String,
    heads: Vec<Head>,
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
/// database at base.
pub async fn run(cx: &Context, _args: &Args) -> anyhow::Result<i32> {
    let repo = cx.repository()?;
    let url = cx.config.database_url()?;
    let rows = cx.database_heads().await?;
    match cx.format {
        Format::Json => {
            let heads = rows
                .iter()
                .map(|id| match repo.get(id) {
                    Some(revision) => Head {
                        info: HeadInfo::Known(RevisionInfo::new(&repo, revision)),
                        known: true,
                    },
                    None => Head {
                        info: HeadInfo::Unknown {
                            revision: id.clone(),
                        },
                        known: false,
                    },
                })
                .collect();
            output::json(&Current {
                database: url.to_string(),
                heads,
            })?;
        }
        _ if rows.is_empty() => println!("base (no revision applied)"),
        _ => {
            for id in &rows {
                match repo.get(id) {
                    Some(revision) => println!("{}", output::revision_line(&repo, revision)),
                    None => println!(
                        "{id} (not among the revision files in {})",
                        repo.dir.display()
                    ),
                }
            }
        }
    }
    Ok(0)
}
