//! `runner baseline -m MSG`: adopt a database made without runner. Writes a base revision
//! equal to the live schema (introspected) and stamps the database at it, so that the next
//! revisions (written by hand or by `runner migrate`) can change those tables. A database an
//! Alembic project migrated has its `alembic_version` read and reported, so the team knows
//! where it stood.

use super::stamp::{StampArgs, stamp};
use super::upgrade::RunFlags;
use super::{Context, UsageError};
use crate::autogen::{AutogenError, autogenerate};
use crate::db::ConnectOptions;
use crate::model::Schema;

/// Write a base revision equal to the live database's schema and stamp it
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the revision says (`adopt the CRM database`)
    #[arg(short, long)]
    message: String,
    #[command(flatten)]
    flags: RunFlags,
}

/// Runs `baseline`.
pub async fn run(cx: &Context, args: &Args) -> anyhow::Result<i32> {
    let repo = cx.repository()?;
    let existing = repo.graph.ordered();
    if !existing.is_empty() {
        return Err(UsageError(format!(
            "the project already has {} revision(s); baseline starts a project's history from a \
             database made without runner. To write what the database has that the revisions \
             do not, use `runner migrate --from-database -m ...`",
            existing.len()
        ))
        .into());
    }
    if let Some(version) = alembic_version(cx).await? {
        eprintln!(
            "note: this database was migrated by Alembic, at revision {version} (alembic_version); \
             runner leaves that table alone"
        );
    }
    // Introspection leaves Alembic's own table out: it is not part of the app's schema.
    let live = super::schema::live_schema(cx).await?;
    let proposal = autogenerate(&Schema::default(), &live, &[]).map_err(|e| match e {
        AutogenError::Internal { .. } => anyhow::Error::new(e),
        other => UsageError(other.to_string()).into(),
    })?;
    if proposal.steps.is_empty() {
        return Err(UsageError("the database has no tables to adopt".into()).into());
    }
    let id = super::revision::write_new(
        cx,
        &repo,
        Vec::new(),
        Vec::new(),
        &args.message,
        &[],
        proposal,
    )?;
    stamp(
        cx,
        &StampArgs {
            target: id,
            flags: args.flags.clone(),
        },
    )
    .await
}

/// The `alembic_version` rows of the database, if it has that table.
async fn alembic_version(cx: &Context) -> anyhow::Result<Option<String>> {
    let mut db = cx
        .connect(&ConnectOptions {
            create_sqlite_file: false,
            ..ConnectOptions::default()
        })
        .await?;
    let found = if db.table_exists("alembic_version").await? {
        let rows = db
            .query("SELECT version_num FROM alembic_version", &[])
            .await?;
        let versions: Vec<String> = rows
            .rows
            .iter()
            .filter_map(|row| row.first().and_then(|v| v.as_str()).map(str::to_string))
            .collect();
        Some(if versions.is_empty() {
            "none (the table is empty)".to_string()
        } else {
            versions.join(", ")
        })
    } else {
        None
    };
    db.close().await?;
    Ok(found)
}
