//! `runner try-transform`: one transform step of a revision, run on a scratch copy of the
//! database (see [`super::scratch`]) that is thrown away at the end, reported with what it read
//! and wrote per table and a sample of the rows it changed. A transform author's loop: no
//! upgrade, and nothing changes.
//!
//! The step runs through the live [`Migrator`], as an upgrade would run it. Where its revision
//! is pending, the copy is first brought to just before the step: the revision's pending
//! ancestors, then the revision cut short before the step (its earlier steps). The step then
//! runs as a revision of its own, a child of that one, that exists only in this run's copy of
//! the repository. Where the revision is applied already, nothing is reverted: the step runs
//! on the data as it is.

use std::collections::HashSet;

use rand::RngExt as _;
use serde::Serialize;

use super::record::{Recorder, RevisionReport, TransformCounts};
use super::scratch::{Isolation, Scratch};
use crate::db::{ConnectOptions, Db};
use crate::exec::{ExecError, Left, Migrator, Progress, RunOptions};
use crate::ops::Step;
use crate::plan::{PlanError, PlannedStep};
use crate::revision::graph::GraphError;
use crate::revision::target::Target;
use crate::revision::{Downgrade, Located, Repository, Revision, SourceError};
use crate::sandbox::{Stats, TransformListener};
use crate::transforms::Modules;
use crate::version_table;
use crate::vocab::Direction;

pub use super::row_changes::{
    ChangedRow, ColumnChange, RowChange, SAMPLE_ROWS, SAMPLE_TABLE_LIMIT, TableSample, shown,
};
use super::row_changes::{compare, snapshot};

/// The step `try-transform` runs: a revision, and the place of the step in its upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRef {
    pub revision: String,
    /// 0-based, among the revision's upgrade steps.
    pub index: usize,
}

/// Why the step to try could not be found: bad input, before anything is opened.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// No revision runs the module.
    #[error("no revision runs transform module '{module}'{hint}")]
    UnknownModule { module: String, hint: String },
    /// The revision asked for has no step for the module (located at its `revision:` line).
    #[error(transparent)]
    NotInRevision(SourceError),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// Finds the first `transform` step for `module` in `revision` (an id, unique prefix or
/// label), or without one, in the last revision, in upgrade order, that has such a step.
pub fn locate(
    repo: &Repository,
    module: &str,
    revision: Option<&str>,
) -> Result<StepRef, LocateError> {
    let position = |r: &Revision| {
        r.upgrade
            .iter()
            .position(|s| matches!(&s.value, Step::Transform(t) if t.module == module))
    };
    let Some(text) = revision else {
        return repo
            .ordered()
            .into_iter()
            .rev()
            .find_map(|r| {
                position(r).map(|index| StepRef {
                    revision: r.id.clone(),
                    index,
                })
            })
            .ok_or_else(|| {
                let known = repo.transform_modules();
                let hint = if known.is_empty() {
                    " (no revision runs any transform)".to_string()
                } else {
                    crate::suggest::did_you_mean(module, known.iter().map(String::as_str))
                };
                LocateError::UnknownModule {
                    module: module.into(),
                    hint,
                }
            });
    };
    let id = repo.graph.resolve(text)?;
    let found = repo.revision(&id)?;
    if let Some(index) = position(found) {
        return Ok(StepRef {
            revision: id,
            index,
        });
    }
    let running: Vec<String> = repo
        .ordered()
        .into_iter()
        .filter(|r| position(r).is_some())
        .map(|r| r.id.clone())
        .collect();
    let hint = if running.is_empty() {
        let modules = found.transform_modules();
        let known = if modules.is_empty() {
            repo.transform_modules()
        } else {
            modules
        };
        crate::suggest::did_you_mean(module, known.iter().map(String::as_str))
    } else {
        format!("; it is run by {}", running.join(", "))
    };
    Err(LocateError::NotInRevision(found.error_at(
        &found.locs.id,
        format!(
            "revision {id} ({}) has no `transform` step for module '{module}'{hint}",
            found.message
        ),
    )))
}

/// What `try-transform` did, to the point where it stopped.
#[derive(Debug, Clone, Serialize)]
pub struct TryReport {
    /// The database the copy was made of (password masked).
    pub database: String,
    /// How the run was kept away from it.
    pub isolation: Isolation,
    pub module: String,
    pub revision: String,
    pub message: String,
    /// The step's number among the revision's upgrade steps (1-based), and how many it has.
    pub step: usize,
    pub steps: usize,
    /// Where the step is written, `file:line:col`.
    pub at: String,
    /// True if the revision was applied already: the step ran on the data as it is. False:
    /// the copy was first brought to just before the step.
    pub revision_applied: bool,
    /// What ran on the copy before the step: pending revisions, then the revision's earlier
    /// steps (as a revision of their own, under its id).
    pub prepared: Vec<RevisionReport>,
    /// How long the step took; `None` if it did not finish.
    pub duration_ms: Option<u64>,
    /// What the transform read and wrote, as the sandbox's host counted it.
    pub transform: Option<TransformCounts>,
    /// Per table the step writes, the rows that differ after it.
    pub samples: Vec<TableSample>,
    /// What the user should know: notices of the run, anything the scratch copy could not
    /// keep apart.
    pub notes: Vec<String>,
}

/// A try that stopped: what it did up to then, and why. The database was not changed.
#[derive(Debug, thiserror::Error)]
#[error("try-transform {} stopped; nothing was changed in {}", .report.module, .report.database)]
pub struct TryFailed {
    pub report: Box<TryReport>,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

/// What `try-transform` runs.
pub struct Request<'a> {
    pub repo: &'a Repository,
    pub modules: Modules,
    pub options: RunOptions,
    /// The step (see [`locate`]).
    pub step: &'a StepRef,
}

/// Runs the step of `request` on a scratch copy of the database `live` is connected to
/// (`None`: a SQLite file that does not exist yet, tried on an empty copy).
pub async fn try_step(
    live: Option<&mut Db>,
    connect: &ConnectOptions,
    request: Request<'_>,
    progress: &mut dyn Progress,
) -> Result<TryReport, TryFailed> {
    let mut live = live;
    let mut report = TryReport {
        database: match &live {
            Some(db) => db.url.to_string(),
            None => "a new SQLite database".into(),
        },
        isolation: Isolation::Copy,
        module: String::new(),
        revision: request.step.revision.clone(),
        message: String::new(),
        step: request.step.index + 1,
        steps: 0,
        at: String::new(),
        revision_applied: false,
        prepared: Vec::new(),
        duration_ms: None,
        transform: None,
        samples: Vec::new(),
        notes: Vec::new(),
    };
    let located = match step_of(request.repo, request.step) {
        Ok(found) => found,
        Err(error) => return Err(failed(report, error)),
    };
    report.module = located.1.module.clone();
    report.message = located.0.message.clone();
    report.steps = located.0.upgrade.len();
    report.at = located.2.loc.to_string();
    let mut notes = Vec::new();
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
    let plain;
    let repo = if report.isolation == Isolation::RolledBack {
        plain = request.repo.without_concurrently();
        &plain
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
        (Err(error), _) => Err(failed(report, error)),
        (Ok(()), Err(error)) => Err(failed(report, error)),
    }
}

fn failed(report: TryReport, error: impl std::error::Error + Send + Sync + 'static) -> TryFailed {
    TryFailed {
        report: Box::new(report),
        source: Box::new(error),
    }
}

/// The revision, the transform and the located step `step` names.
fn step_of<'r>(
    repo: &'r Repository,
    step: &StepRef,
) -> Result<(&'r Revision, &'r crate::ops::Transform, &'r Located<Step>), GraphError> {
    let revision = repo.revision(&step.revision)?;
    match revision.upgrade.get(step.index) {
        Some(
            located @ Located {
                value: Step::Transform(transform),
                ..
            },
        ) => Ok((revision, transform, located)),
        _ => Err(GraphError::UnknownRevision {
            target: format!("{} (step {})", step.revision, step.index + 1),
        }),
    }
}

/// The run itself, on the scratch copy's connection.
async fn run(
    db: &mut Db,
    repo: &Repository,
    request: Request<'_>,
    progress: &mut dyn Progress,
    report: &mut TryReport,
) -> Result<(), ExecError> {
    let (revision, transform, _) = step_of(repo, request.step)?;
    let heads = if version_table::exists(db).await? {
        version_table::heads(db).await?
    } else {
        Vec::new()
    };
    let applied = repo.graph.applied_from_rows(&heads)?;
    report.revision_applied = applied.contains(&revision.id);
    let (tried, step_id) = scratch_repo(repo, request.step, report.revision_applied)
        .map_err(|e| ExecError::Plan(PlanError::Invalid(e)))?;

    let mut copy = OnTheCopy {
        inner: progress,
        heard: Vec::new(),
        step_only: false,
    };
    let prepared = if report.revision_applied {
        report.notes.push(format!(
            "revision {} is applied: the step ran on the data as it is now, after the revision's other steps and any revision applied since; \
             to try it as an upgrade runs it, try it on a database the revision is not applied to",
            revision.id
        ));
        Ok(())
    } else {
        // Said here, not recorded: the progress of what follows must not read as the real run.
        copy.inner.notice(&format!(
            "on the scratch copy only: upgrading to just before step {} of revision {}",
            request.step.index + 1,
            revision.id
        ));
        let mut recorder = Recorder::new(&mut copy);
        let outcome = Migrator::new(&tried, db, request.options.clone(), &mut recorder)
            .with_modules(request.modules.clone())
            .upgrade(&Target::Revision(revision.id.clone()))
            .await;
        report.prepared = std::mem::take(&mut recorder.revisions);
        keep_notices(&mut report.notes, std::mem::take(&mut recorder.notices));
        outcome.map(drop)
    };
    prepared.map_err(|e| as_the_revisions(e, revision, request.step, &step_id))?;

    let before = snapshot(db, &transform.writes).await;
    copy.step_only = true;
    let mut recorder = Recorder::new(&mut copy);
    let ran = Migrator::new(&tried, db, request.options, &mut recorder)
        .with_modules(request.modules)
        .run_one(&step_id, Direction::Up)
        .await;
    if let Some(step) = recorder.revisions.last().and_then(|r| r.steps.first()) {
        report.duration_ms = Some(step.duration_ms);
        report.transform = step.transforms.first().cloned();
    }
    keep_notices(&mut report.notes, std::mem::take(&mut recorder.notices));
    ran.map_err(|e| as_the_revisions(e, revision, request.step, &step_id))?;
    let after = snapshot(db, &transform.writes).await;
    report.samples = before
        .into_iter()
        .zip(after)
        .map(|((table, before), (_, after))| compare(table, before, after))
        .collect();
    Ok(())
}

/// A step that failed on the copy, told as the revision's (`step_id` is the made-up revision
/// the step ran as): its id, its step numbers, and nothing left behind, since the copy is
/// thrown away.
fn as_the_revisions(
    error: ExecError,
    revision: &Revision,
    step: &StepRef,
    step_id: &str,
) -> ExecError {
    let ExecError::StepFailed(mut failure) = error else {
        return error;
    };
    if failure.revision == step_id {
        failure.number = step.index + 1;
    }
    if failure.revision == step_id || failure.revision == revision.id {
        failure.revision = revision.id.clone();
        failure.message = revision.message.clone();
        failure.total = revision.upgrade.len();
    }
    failure.left = Left::RolledBack;
    failure.completed.clear();
    ExecError::StepFailed(failure)
}

/// The repository the try runs: `repo` with the step as a revision of its own (a child of its
/// revision, under a fresh id, returned too), and, unless the revision is `applied`, the
/// revision cut short before the step, its descendants left out.
fn scratch_repo(
    repo: &Repository,
    step: &StepRef,
    applied: bool,
) -> Result<(Repository, String), SourceError> {
    let missing = |e: GraphError| SourceError::file(&repo.dir, e.to_string());
    let (revision, transform, located) = step_of(repo, step).map_err(missing)?;
    let left_out: HashSet<String> = if applied {
        HashSet::new()
    } else {
        let mut below = repo.graph.descendants(&revision.id).map_err(missing)?;
        below.remove(&revision.id);
        below
    };
    let mut revisions: Vec<Revision> = Vec::new();
    for other in repo.ordered() {
        if left_out.contains(&other.id) {
            continue;
        }
        let mut other = other.clone();
        if !applied && other.id == revision.id {
            other.upgrade.truncate(step.index);
            other.downgrade = Downgrade::Steps(Vec::new());
        }
        revisions.push(other);
    }
    let id = fresh_id(repo);
    revisions.push(Revision {
        id: id.clone(),
        parents: vec![revision.id.clone()],
        depends_on: Vec::new(),
        branch_labels: Vec::new(),
        message: format!("try-transform {}", transform.module),
        upgrade: vec![located.clone()],
        downgrade: Downgrade::Steps(Vec::new()),
        lint_ignores: Vec::new(),
        ..revision.clone()
    });
    Ok((Repository::from_revisions(&repo.dir, revisions)?, id))
}

/// A revision id (12 hex digits) no revision of `repo` has.
fn fresh_id(repo: &Repository) -> String {
    let mut rng = rand::rng();
    loop {
        let n: u64 = rng.random();
        let id = format!("{:012x}", n & 0xffff_ffff_ffff);
        if !repo.graph.contains(&id) {
            return id;
        }
    }
}

/// True for a notice of the run worth passing on: not one about resuming a half-applied
/// revision (MySQL, `transactional: false`), which concerns a real run, not a copy thrown away.
fn worth_telling(notice: &str) -> bool {
    !notice.contains("--resume")
}

/// Adds the notices worth telling to `notes`, once each.
fn keep_notices(notes: &mut Vec<String>, notices: Vec<String>) {
    for notice in notices {
        if worth_telling(&notice) && !notes.contains(&notice) {
            notes.push(notice);
        }
    }
}

/// What the user's progress hears of the runs on the copy: each notice worth telling once,
/// and, once `step_only`, not the made-up revision around the step (its step, the transform's
/// listener and counts still).
struct OnTheCopy<'p> {
    inner: &'p mut dyn Progress,
    heard: Vec<String>,
    step_only: bool,
}

impl Progress for OnTheCopy<'_> {
    fn notice(&mut self, message: &str) {
        if worth_telling(message) && !self.heard.iter().any(|h| h == message) {
            self.heard.push(message.to_string());
            self.inner.notice(message);
        }
    }
    fn revision_started(&mut self, revision: &Revision, direction: Direction, steps: usize) {
        if !self.step_only {
            self.inner.revision_started(revision, direction, steps);
        }
    }
    fn step_done(&mut self, step: &PlannedStep, total: usize, elapsed: std::time::Duration) {
        self.inner.step_done(step, total, elapsed);
    }
    fn revision_done(
        &mut self,
        revision: &Revision,
        direction: Direction,
        elapsed: std::time::Duration,
    ) {
        if !self.step_only {
            self.inner.revision_done(revision, direction, elapsed);
        }
    }
    fn transform_listener(
        &mut self,
        module: &str,
    ) -> Option<std::sync::Arc<dyn TransformListener>> {
        self.inner.transform_listener(module)
    }
    fn transform_done(&mut self, module: &str, stats: &Stats) {
        self.inner.transform_done(module, stats);
    }
}
