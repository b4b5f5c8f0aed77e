//! `runner loaddata [DIR]` and `runner dumpdata [DIR]`: a database's rows as a folder of JSON
//! records, and back (see [`crate::fixtures`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::{Context, UsageError};
use crate::db::{ConnectOptions, Db, lock};
use crate::fixtures::{self, Fixtures, Loaded};
use crate::revision::Repository;
use crate::revision::target::Target;
use crate::units::parse_duration;

/// Load fixtures (DIR/<table>/<primary key>.json) into the database, all in one transaction
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The fixtures folder [default: `fixtures` in runner.toml, else data]
    #[arg(value_name = "DIR")]
    folder: Option<PathBuf>,
    /// Load even though the database is not at the revisions DIR/fixtures.json names
    #[arg(long)]
    any_revision: bool,
    /// How long to wait for another runner migrating the same database
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_duration)]
    lock_timeout: Duration,
}

/// Write every table's rows as fixtures (DIR/<table>/<primary key>.json), byte for byte the
/// same for the same rows
#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// The fixtures folder [default: `fixtures` in runner.toml, else data]
    #[arg(value_name = "DIR")]
    folder: Option<PathBuf>,
    /// Leave this table out (repeatable)
    #[arg(long, value_name = "TABLE")]
    exclude: Vec<String>,
}

#[derive(Serialize)]
struct LoadReport<'a> {
    database: String,
    dir: String,
    #[serde(flatten)]
    loaded: &'a Loaded,
}

#[derive(Serialize)]
struct DumpReport {
    database: String,
    dir: String,
    heads: Vec<String>,
    tables: usize,
    rows: usize,
    #[serde(flatten)]
    written: fixtures::Written,
}

/// Runs `loaddata`.
pub async fn load(cx: &Context, args: &LoadArgs) -> anyhow::Result<i32> {
    let dir = args
        .folder
        .clone()
        .unwrap_or_else(|| cx.config.fixtures_dir.clone());
    let fixtures = fixtures::read(&dir)?;
    let repo = project(cx)?;
    let options = ConnectOptions {
        create_sqlite_file: false,
        lock_timeout: args.lock_timeout,
        ..ConnectOptions::default()
    };
    let mut db = cx.connect(&options).await?;
    lock::acquire(&mut db, args.lock_timeout).await?;
    let result = async {
        if !args.any_revision {
            refuse_other_revision(&mut db, &fixtures, &dir).await?;
        }
        Ok::<_, anyhow::Error>(fixtures::load_into(&mut db, repo.as_ref(), &fixtures).await?)
    }
    .await;
    let released = lock::release(&mut db).await;
    let loaded = result?;
    released?;
    let report = LoadReport {
        database: db.url.to_string(),
        dir: dir.display().to_string(),
        loaded: &loaded,
    };
    db.close().await?;
    cx.report(&report, || print_loaded(&loaded, &dir, cx.verbose > 0))?;
    Ok(0)
}

/// Prints what a load did: a line, and one per table with `-v`.
pub fn print_loaded(loaded: &Loaded, dir: &std::path::Path, per_table: bool) {
    let mut notes = Vec::new();
    if loaded.overwritten > 0 {
        notes.push(format!("{} already there, overwritten", loaded.overwritten));
    }
    if loaded.deferred_updates > 0 {
        notes.push(format!(
            "{} reference(s) set after their rows, to break cycles",
            loaded.deferred_updates
        ));
    }
    let after = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    println!(
        "loaded {} row(s) into {} table(s) from {}{after}",
        loaded.rows(),
        loaded.tables.len(),
        dir.display()
    );
    if per_table {
        for table in &loaded.tables {
            println!("  {}: {}", table.table, table.rows);
        }
    }
}

/// The fixtures name revisions the database is not at: loading them would meet another schema.
async fn refuse_other_revision(
    db: &mut Db,
    fixtures: &Fixtures,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    if fixtures.heads.is_empty() {
        return Ok(());
    }
    let mut at = crate::version_table::heads(db).await?;
    at.sort();
    let mut wanted = fixtures.heads.clone();
    wanted.sort();
    if at == wanted {
        return Ok(());
    }
    Err(UsageError(format!(
        "{} holds rows of revision {}, and the database is at {}: load them into a database at that revision (`runner upgrade {}`, or `runner upgrade --fixtures {}`, which loads them on the way), or pass --any-revision",
        dir.join(fixtures::META_FILE).display(),
        wanted.join(", "),
        super::output::at(&at),
        wanted.join(" "),
        dir.display()
    ))
    .into())
}

/// The project's revisions where there are any: fixtures of a database runner manages are
/// read in the schema of its revisions.
fn project(cx: &Context) -> anyhow::Result<Option<Repository>> {
    if !cx.config.versions_dir().is_dir() {
        return Ok(None);
    }
    Ok(Some(cx.repository()?))
}

/// Runs `dumpdata`.
pub async fn dump(cx: &Context, args: &DumpArgs) -> anyhow::Result<i32> {
    let dir = args
        .folder
        .clone()
        .unwrap_or_else(|| cx.config.fixtures_dir.clone());
    let repo = project(cx)?;
    let options = ConnectOptions {
        create_sqlite_file: false,
        ..ConnectOptions::default()
    };
    let mut db = cx.connect(&options).await?;
    let (schema, heads) = fixtures::schema_of_database(&mut db, repo.as_ref()).await?;
    let dumped = fixtures::dump(&mut db, &schema, heads, &args.exclude).await?;
    let written = fixtures::write(&dir, &dumped)?;
    let report = DumpReport {
        database: db.url.to_string(),
        dir: dir.display().to_string(),
        heads: dumped.heads.clone(),
        tables: dumped
            .tables
            .iter()
            .filter(|t| !t.records.is_empty())
            .count(),
        rows: dumped.record_count(),
        written,
    };
    db.close().await?;
    cx.report(&report, || {
        println!(
            "dumped {} row(s) of {} table(s) into {} at {} ({} file(s) written, {} unchanged, {} removed)",
            report.rows,
            report.tables,
            dir.display(),
            super::output::at(&report.heads),
            written.written,
            written.unchanged,
            written.removed
        );
    })?;
    Ok(0)
}

/// What `upgrade --fixtures` did with the fixtures.
#[derive(Debug, Serialize)]
pub struct OnTheWay {
    /// The revisions the fixtures belong to.
    pub at: Vec<String>,
    /// What was loaded; `None` when the database was past those revisions already.
    pub loaded: Option<Loaded>,
}

/// Where the database stands against the revisions fixtures belong to.
pub enum FixturesAt {
    /// At them: load now.
    Load,
    /// Before them: upgrade to them, then load.
    UpgradeFirst,
    /// Past them: the rows were loaded (or made) before; leave them.
    Past,
}

/// Where a database at `heads` stands against the revisions `fixtures` belong to; refuses
/// fixtures that name no revision, or revisions this project lacks, or a database on another
/// branch.
pub fn fixtures_at(
    repo: &Repository,
    heads: &[String],
    fixtures: &Fixtures,
    target: Option<&Target>,
) -> anyhow::Result<FixturesAt> {
    if fixtures.heads.is_empty() {
        return Err(UsageError(format!(
            "the fixtures name no revision (no heads in {}), so upgrade cannot tell where to load them; load them with `runner loaddata`",
            fixtures::META_FILE
        ))
        .into());
    }
    for head in &fixtures.heads {
        if !repo.graph.contains(head) {
            return Err(UsageError(format!(
                "the fixtures belong to revision {head}, which is not among this project's revisions"
            ))
            .into());
        }
    }
    let wanted = repo.graph.ancestors(&fixtures.heads)?;
    // A target short of the fixtures' revision would load them and then refuse to go down.
    if let Some(Target::Revision(text)) = target {
        let id = repo.graph.resolve(text)?;
        if !wanted.is_subset(&repo.graph.ancestors(std::slice::from_ref(&id))?) {
            return Err(UsageError(format!(
                "{text} does not include the fixtures' revision {}: upgrade to it or past it to load them",
                fixtures.heads.join(", ")
            ))
            .into());
        }
    }
    let applied = repo.graph.applied_from_rows(heads)?;
    Ok(if applied == wanted {
        FixturesAt::Load
    } else if wanted.is_subset(&applied) {
        FixturesAt::Past
    } else if applied.is_subset(&wanted) {
        FixturesAt::UpgradeFirst
    } else {
        return Err(UsageError(format!(
            "the database is at {}, which is not on the way to the fixtures' revision {}: load them into a database on that branch",
            super::output::at(heads),
            fixtures.heads.join(", ")
        ))
        .into());
    })
}

/// Loads `fixtures` under the migration lock where [`upgrade_to_fixtures`] said to, and says
/// what it did.
pub async fn load_on_the_way(
    cx: &Context,
    repo: &Repository,
    db: &mut Db,
    dir: &std::path::Path,
    fixtures: &Fixtures,
    at: FixturesAt,
    flags: &super::upgrade::RunFlags,
) -> anyhow::Result<OnTheWay> {
    let quiet = cx.quiet || cx.format == super::Format::Json;
    let loaded = match at {
        FixturesAt::Past => {
            if !quiet {
                println!(
                    "fixtures in {} belong to {}, and the database is past it: not loaded",
                    dir.display(),
                    fixtures.heads.join(", ")
                );
            }
            None
        }
        FixturesAt::Load | FixturesAt::UpgradeFirst => {
            lock::acquire(db, flags.lock_timeout).await?;
            let result = fixtures::load_into(db, Some(repo), fixtures).await;
            let released = lock::release(db).await;
            let loaded = result?;
            released?;
            if !quiet {
                print_loaded(&loaded, dir, cx.verbose > 0);
            }
            Some(loaded)
        }
    };
    Ok(OnTheWay {
        at: fixtures.heads.clone(),
        loaded,
    })
}
