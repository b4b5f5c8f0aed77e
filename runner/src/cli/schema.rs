//! `runner schema [REV] [--from-database]`: the schema at a revision (default: every head), or
//! the live database's, printed in `schema.yaml` form, so that a project can start its
//! `schema.yaml` from what it has, and a reviewer can read what a history builds.

use std::collections::HashSet;

use anyhow::Context as _;

use super::{Context, Format};
use crate::db::ConnectOptions;
use crate::db::introspect::introspect;
use crate::dialect_kind::Dialect;
use crate::model::Schema;
use crate::model::compare::revision_ready;
use crate::schema_file;

/// Print the schema at a revision, or of the live database, in schema.yaml form
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revision (default: every head); `base` is the empty schema
    #[arg(value_name = "REV", conflicts_with = "from_database")]
    revision: Option<String>,
    /// Read the live database instead (introspected; nothing is changed or created)
    #[arg(long)]
    from_database: bool,
}

/// Runs `schema`.
pub async fn run(cx: &Context, args: &Args) -> anyhow::Result<i32> {
    let schema = if args.from_database {
        live_schema(cx).await?
    } else {
        let repo = cx.repository()?;
        let applied: HashSet<String> = match args.revision.as_deref() {
            None | Some("head" | "heads") => repo.graph.ordered().into_iter().collect(),
            Some("base") => HashSet::new(),
            Some(text) => {
                let id = repo.graph.resolve(text)?;
                repo.graph.ancestors(&[id])?
            }
        };
        repo.schema_of(&applied)?
    };
    match cx.format {
        Format::Json => super::output::json(&schema)?,
        _ => print!("{}", schema_file::render(&schema)?),
    }
    Ok(0)
}

/// The live database's schema, enums named as a revision can use them (after the project's
/// `schema.yaml` where it names the same values).
pub(super) async fn live_schema(cx: &Context) -> anyhow::Result<Schema> {
    let (live, _) = introspected(cx).await?;
    let hint = schema_file::load(&cx.config.schema_file)?;
    Ok(revision_ready(&live, hint.as_ref()))
}

/// The live database's schema as introspection reads it, and its dialect; nothing is created.
pub(super) async fn introspected(cx: &Context) -> anyhow::Result<(Schema, Dialect)> {
    let options = ConnectOptions {
        create_sqlite_file: false,
        ..ConnectOptions::default()
    };
    let mut db = cx.connect(&options).await?;
    let live = introspect(&mut db).await;
    let dialect = db.dialect();
    db.close().await?;
    Ok((live.context("reading the live schema")?, dialect))
}
