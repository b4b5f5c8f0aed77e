//! `runner diff`: the live schema against the schema runner expects at the database's current
//! revision (drift: a column added by hand, an index dropped, a type changed). Exit 3 when they
//! differ, 0 when they do not. Looking creates nothing.

use serde::Serialize;

use super::{Context, Format};
use crate::db::introspect::introspect;
use crate::db::{ConnectOptions, Db, DbError};
use crate::model::compare::comparable;
use crate::model::drift::{Drift, drift_between};
use crate::version_table;

/// Compare the live schema with the one expected at the database's current revision
#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Serialize)]
struct Report<'a> {
    database: String,
    /// The revisions the version table holds.
    heads: &'a [String],
    clean: bool,
    drift: &'a [Drift],
}

/// Runs `diff`.
pub async fn run(cx: &Context, _args: &Args) -> anyhow::Result<i32> {
    let repo = cx.repository()?;
    let options = ConnectOptions {
        create_sqlite_file: false,
        ..ConnectOptions::default()
    };
    let mut db = match cx.connect(&options).await {
        Ok(db) => db,
        Err(e) if matches!(e.downcast_ref::<DbError>(), Some(DbError::NoSuchFile(_))) => {
            return Err(e.context("nothing to compare"));
        }
        Err(e) => return Err(e),
    };
    let heads_at = version_table::heads(&mut db).await?;
    let drift = drift_of(&repo, &heads_at, &mut db).await;
    db.close().await?;
    let drift = drift?;
    let url = cx.config.database_url()?;
    match cx.format {
        Format::Json => super::output::json(&Report {
            database: url.to_string(),
            heads: &heads_at,
            clean: drift.is_empty(),
            drift: &drift,
        })?,
        _ if drift.is_empty() => println!(
            "no drift: {url} matches the schema at {}",
            super::output::at(&heads_at)
        ),
        _ => {
            println!(
                "{url} differs from the schema at {} in {} place(s):",
                super::output::at(&heads_at),
                drift.len()
            );
            for item in &drift {
                println!("  {item}");
            }
        }
    }
    Ok(if drift.is_empty() { 0 } else { 3 })
}

/// The drift of the database `db` is connected to, whose version table holds `heads`.
async fn drift_of(
    repo: &crate::revision::Repository,
    heads: &[String],
    db: &mut Db,
) -> anyhow::Result<Vec<Drift>> {
    let applied = repo.graph.applied_from_rows(heads)?;
    let expected = repo.schema_of(&applied)?;
    let live = introspect(db).await?;
    let dialect = db.dialect();
    Ok(drift_between(
        &comparable(&expected, dialect),
        &comparable(&live, dialect),
    ))
}
