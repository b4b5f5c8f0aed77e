//! `upgrade --dry-run` and `downgrade --dry-run`: the run for real, transforms included, on a
//! scratch copy of the database that is thrown away at the end (see [`scratch`] for how each
//! database keeps it apart), reported step by step: the SQL, the durations, what each
//! transform read and wrote per table (counted by the sandbox's host), and what every revision
//! changed in the schema, read from the database before and after it.
//!
//! The run is the live [`Migrator`]'s, one revision at a time along the path an upgrade (or
//! downgrade) would take, so a dry run fails where the real run would, with the same message.

mod record;
pub mod row_changes;
pub mod scratch;
pub mod try_step;

use serde::Serialize;

use crate::db::introspect::introspect;
use crate::db::{ConnectOptions, Db};
use crate::exec::{ExecError, Migrator, Progress, Ran, RunOptions};
use crate::model::Schema;
use crate::model::outline::outline_diff;
use crate::revision::Repository;
use crate::revision::target::Target;
use crate::transforms::Modules;
use crate::version_table;
use crate::vocab::Direction;
use record::Recorder;
pub use record::{RevisionReport, StepReport, TransformCounts};
pub use scratch::{Isolation, Scratch, ScratchError};

/// What a dry run did, to the point where it stopped.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    /// The database previewed (password masked).
    pub database: String,
    /// How the run was kept away from it.
    pub isolation: Isolation,
    pub direction: Direction,
    /// The database's heads before, and where the run left the copy.
    pub heads_before: Vec<String>,
    pub heads_after: Vec<String>,
    pub revisions: Vec<RevisionReport>,
    /// What the user should know: notices of the run, anything the scratch copy could not
    /// keep apart (a PostgreSQL sequence that moved), leftovers of earlier dry runs.
    pub notes: Vec<String>,
}

impl DryRun {
    /// The revisions that ran to the end, as a real run reports them.
    pub fn ran(&self) -> Vec<Ran> {
        self.revisions
            .iter()
            .filter_map(|r| {
                Some(Ran {
                    revision: r.revision.clone(),
                    message: r.message.clone(),
                    direction: r.direction,
                    steps: r.steps.len(),
                    duration_ms: r.duration_ms?,
                })
            })
            .collect()
    }
}

/// A dry run that stopped: what it did up to then, and why. Nothing was changed either way.
#[derive(Debug, thiserror::Error)]
#[error("the dry run stopped (the database was not changed)")]
pub struct DryRunFailed {
    pub report: Box<DryRun>,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

/// What a dry run runs.
pub struct Request<'a> {
    pub repo: &'a Repository,
    pub modules: Modules,
    pub options: RunOptions,
    pub direction: Direction,
    /// Where to; `None` only finishes a revision a run left half applied (`--resume`).
    pub target: Option<&'a Target>,
}

/// Dry-runs `request` against the database `live` is connected to (`None`: a SQLite file that
/// does not exist yet, opened as an empty copy with `options`).
pub async fn dry_run(
    live: Option<&mut Db>,
    connect: &ConnectOptions,
    request: Request<'_>,
    progress: &mut dyn Progress,
) -> Result<DryRun, DryRunFailed> {
    let mut notes = Vec::new();
    let mut live = live;
    let database = match &live {
        Some(db) => db.url.to_string(),
        None => "a new SQLite database".into(),
    };
    let mut report = DryRun {
        database,
        isolation: Isolation::Copy,
        direction: request.direction,
        heads_before: Vec::new(),
        heads_after: Vec::new(),
        revisions: Vec::new(),
        notes: Vec::new(),
    };
    let opened = match live.as_deref_mut() {
        Some(db) => Scratch::open(db, &mut notes).await,
        None => Scratch::empty_sqlite(connect).await,
    };
    let mut scratch = match opened {
        Ok(scratch) => scratch,
        Err(error) => {
            report.notes = notes;
            return Err(failed(report, error));
        }
    };
    report.isolation = scratch.isolation();
    let repo_without_concurrently;
    let repo = if report.isolation == Isolation::RolledBack {
        repo_without_concurrently = request.repo.without_concurrently();
        if has_concurrently(request.repo) {
            notes.push(
                "`concurrently` index steps run as plain CREATE/DROP INDEX in the dry run's transaction, which CONCURRENTLY cannot run in".into(),
            );
        }
        &repo_without_concurrently
    } else {
        request.repo
    };
    let outcome = match scratch.db(live.as_deref_mut()) {
        Some(db) => run(db, repo, request, progress, &mut report).await,
        None => Ok(()),
    };
    let finished = scratch.finish(live, &mut notes).await;
    notes.append(&mut report.notes);
    report.notes = notes;
    match (outcome, finished) {
        (Ok(()), Ok(())) => Ok(report),
        (Err(error), _) => {
            explain(&error, &mut report);
            Err(failed(report, error))
        }
        (Ok(()), Err(error)) => Err(failed(report, error)),
    }
}

fn failed(report: DryRun, error: impl std::error::Error + Send + Sync + 'static) -> DryRunFailed {
    DryRunFailed {
        report: Box::new(report),
        source: Box::new(error),
    }
}

fn has_concurrently(repo: &Repository) -> bool {
    repo.ordered()
        .iter()
        .any(|r| r.written_steps().any(|s| s.value.needs_no_transaction()))
}

/// A note for a failure a dry run meets where the real run would not.
fn explain(error: &ExecError, report: &mut DryRun) {
    let ExecError::StepFailed(step) = error else {
        return;
    };
    if report.isolation == Isolation::RolledBack && step.error.contains("55P04") {
        report.notes.push(
            "PostgreSQL lets no transaction use an enum value added in it, and the dry run holds every revision in one: \
             dry-run up to the revision that adds the value, or on a copy of the database (SQLite, or a restored dump)".into(),
        );
    }
}

/// The run itself, on the scratch copy's connection.
async fn run(
    db: &mut Db,
    repo: &Repository,
    request: Request<'_>,
    progress: &mut dyn Progress,
    report: &mut DryRun,
) -> Result<(), ExecError> {
    if version_table::exists(db).await? {
        report.heads_before = version_table::heads(db).await?;
    }
    let mut recorder = Recorder::new(progress);
    let mut changes: Vec<(usize, Vec<String>)> = Vec::new();
    let outcome = {
        let mut migrator =
            Migrator::new(repo, db, request.options, &mut recorder).with_modules(request.modules);
        steps(
            &mut migrator,
            request.direction,
            request.target,
            &mut changes,
        )
        .await
    };
    report.revisions = recorder.revisions;
    report.notes = recorder.notices;
    for (index, lines) in changes {
        if let Some(revision) = report.revisions.get_mut(index) {
            revision.schema = lines;
        }
    }
    if version_table::exists(db).await.unwrap_or(false) {
        report.heads_after = version_table::heads(db).await.unwrap_or_default();
    }
    outcome
}

/// Runs the path one revision at a time, reading the schema between them; `changes` gets
/// each revision's schema lines (by its place in the run) as it finishes.
async fn steps(
    migrator: &mut Migrator<'_>,
    direction: Direction,
    target: Option<&Target>,
    changes: &mut Vec<(usize, Vec<String>)>,
) -> Result<(), ExecError> {
    let mut before = schema(migrator.db()).await;
    let mut done = 0;
    for _ in migrator.resume_only(direction).await? {
        let after = schema(migrator.db()).await;
        changes.push((done, diff(&before, &after)));
        done += 1;
        before = after;
    }
    let Some(target) = target else {
        return Ok(());
    };
    for id in migrator.path(direction, target).await? {
        if migrator.run_one(&id, direction).await?.is_none() {
            continue;
        }
        let after = schema(migrator.db()).await;
        changes.push((done, diff(&before, &after)));
        done += 1;
        before = after;
    }
    Ok(())
}

/// The live schema, or why it could not be read.
async fn schema(db: &mut Db) -> Result<Schema, String> {
    introspect(db).await.map_err(|e| e.to_string())
}

fn diff(before: &Result<Schema, String>, after: &Result<Schema, String>) -> Vec<String> {
    match (before, after) {
        (Ok(before), Ok(after)) => outline_diff(before, after),
        (Err(e), _) | (_, Err(e)) => vec![format!("(the schema could not be read: {e})")],
    }
}
